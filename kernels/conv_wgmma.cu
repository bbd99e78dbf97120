// targets: sm_90a
// Convolutions v7 on Hopper warpgroup MMA (wgmma.mma_async, sm_90a only): bf16 operands (the v6 bf16 copies),
// fp32 accumulation and fp32 output (bf16 where ConvDims::out16 asks: the forward with statistics and the
// stride-1 grad-input, for the batch-norm tails that read bf16). Three implicit GEMMs; every 16-byte cp.async moves 8 channels of one
// pixel straight into a canonical no-swizzle layout of wgmma.cuh:
//   forward:     y [m = (n, oy, ox)][o] = im2col(x) [m][k = (ky, kx, c)] . w [o][k]           (C % 32 == 0)
//   grad-input:  gx [m = (n, iy, ix)][c] = gather(gy) [m][k = (ky, kx, o)] . wT [c][k]        (O % 32 == 0;
//                stride > 1 by residue classes, `_strided`), wT [c, ky, kx, o] the bf16 weights transposed
//                (conv_weight_t_bf16: IHWO)
//   grad-weight: gw^T [m = (ky, kx, c)][o] = sum over pixels k = p of x(p, m) . gy [p][o]       (C % 8 == 0,
//                O % 8 == 0), split over pixel ranges (blockIdx.z) added with atomics into the zeroed gw
// The first two have both operands K-major (a 32-deep k-tile is 32 channels of one tap); grad-weight has both
// MN-major (a k-tile is 32 pixels, a chunk 8 consecutive m or n of one pixel) and runs the MMA transposed.
// Two warpgroups (256 threads) per 128 x BN block tile, each owning 64 rows; k-tiles of BK = 32 or 64 (64 where
// the channels allow: half the barriers per MMA, 128-byte rows per copy) stream through a 4-stage cp.async
// ring (LBO 128 bytes between k-groups, SBO BK / 8 * 128 bytes between row groups), zero-filled in the
// padding and past the last row, column or pixel. A ring of STAGES keeps STAGES - 2 k-tiles of copies in
// flight ahead of the MMAs, and the MMAs of one k-tile stay in flight (wgmma.wait_group 1) while the
// warpgroup waits for the next tile and issues its copies; so the stage being refilled is the one read two
// MMA groups ago, which every warpgroup has waited for before the barrier. Two pipelines, `_k64s4` (BK 64,
// 4 stages: 96-128 KB, one block per SM at n128) and `_k32s5` (BK 32, 5 stages: 60-80 KB, two or three
// blocks per SM), run the same k16 MMA steps in the same order (grad-weight: plus all-zero steps past the
// last pixel), so a block's sums are the same and the launcher may pick either by speed.
// tf32 (2026-11-28): the forward and grad-input on the fp32 tensors themselves, `wgmma ... .tf32` reading the
// upper 19 bits of each word, in the same byte layouts (a k-tile row of 128 or 64 bytes is 32 or 16 fp32
// channels: pipelines `_k32s4`, `_k16s5`; C or O % 16 == 0; the weights transposed by conv_weight_t_f32); no
// tf32 grad-weight (tf32 wgmma takes K-major operands only). `_m256`: tiles of 256 rows (MW = 2 below).
#include "common.cuh"
#include "conv_gather.cuh"
#include "fastdiv.cuh"
#include "wgmma.cuh"

// A block's rows: C7_BM, or with MW = 2 (`_m256`: each warpgroup two m64 tiles against one B tile, a quarter
// fewer bytes from L2 per MMA at 128 columns, a sixth fewer at 64) 2 C7_BM; a warpgroup owns 64 MW
// consecutive rows.
#define C7_BM 128

// Operand elements: bf16 bits (unsigned short) or fp32 read as tf32 (float; tf32 wgmma takes K-major
// operands only, so the grad-weight stays bf16). A k-tile row is BK elements, RB = BK * sizeof(T) bytes
// (128 or 64), a 16-byte chunk CH = 16 / sizeof(T) channels; a 16-deep bf16 k-step and an 8-deep tf32 one
// both span 32 bytes of a row, so both types share the tile layouts, descriptors and ring.
template <int BK, class T>
struct C7Geo {
    static constexpr int RB = BK * (int)sizeof(T), CPR = RB / 16, CH = 16 / (int)sizeof(T);
};

// K-major tiles (forward, grad-input) are rows of RB bytes in the swizzle layout of that width (wgmma.cuh's
// wg_swz_chunk / wg_desc_swz: 128 or 64 bytes), not the no-swizzle core matrices of the first v7, under
// which Nsight Compute counted 72 % excess shared wavefronts on the H200. Chunk f of a tile holds channels
// CH (f % CPR) .. + CH - 1 of row f / CPR: a warp copies whole rows (coalesced), and each 8-lane phase fills
// 128 contiguous bytes, conflict-free.
template <int RB>
__device__ __forceinline__ unsigned char* c7_kdst(unsigned char* tile, int f) {
    return tile + wg_swz_chunk<RB>(f / (RB / 16), f % (RB / 16));
}

// Rows of the A tile this thread copies: chunk f = t + 256 i, row f / CPR, channels CH (t % CPR) .. of the
// k-tile (independent of i: CPR divides 256).
template <int BK, class T, int MW = 1>
struct C7Rows {
    using G = C7Geo<BK, T>;
    static constexpr int NA = C7_BM * MW * G::CPR / 256;
    static __device__ int row(int i) { return (threadIdx.x + 256 * i) / G::CPR; }
    static __device__ int kc() { return G::CH * (threadIdx.x % G::CPR); }
};

// The loaders keep, per chunk a thread copies, the element offset of its source at the first k-tile (and
// what bounds it), so a k-tile costs one offset add, the bounds test and the cp.async per chunk: the address
// arithmetic of a k-tile is issued while the tensor cores run, and with full products recomputed per chunk
// (and two software divisions per k-tile) it took more issue slots than the MMAs took cycles (ptxas 13.0
// SASS: ~40 instructions per cp.async). A chunk outside the tensor keeps its computed address: with
// src-size 0 the copy reads nothing and zero-fills (cusim checks the source only when it reads).

// The B tile: rows col0 .. col0 + BN - 1 of a K-major [rows][K] matrix, the k-tile at column k; rows past
// `rows` zero.
template <int BN, int BK, class T>
struct C7BRows {
    using G = C7Geo<BK, T>;
    static constexpr int NB = (BN * G::CPR + 255) / 256;
    const T* B;
    long long off[NB];  // row r, k-chunk of this thread's chunk f = t + 256 i, at k0 = 0
    bool ok[NB];
    __device__ C7BRows(const T* B_, int rows, int K, int col0) : B(B_) {
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            const int r = col0 + f / G::CPR;
            ok[i] = f < BN * G::CPR && r < rows;
            off[i] = (long long)r * K + G::CH * (f % G::CPR);
        }
    }
    __device__ void load(unsigned char* Bs, int k) const {
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if ((BN * G::CPR) % 256 && f >= BN * G::CPR) break;  // folded away for whole tiles
            wg_cp16(c7_kdst<G::RB>(Bs, f), B + (off[i] + k), ok[i]);
        }
    }
};

// Forward: A = im2col of x (rows: FwdRows, conv_gather.cuh), B = w (OHWI).
template <int BN, int BK, class T, int MW = 1>
struct C7FwdLoad {
    using R = C7Rows<BK, T, MW>;
    const T* x;
    ConvDims d;
    C7BRows<BN, BK, T> b;
    FastDiv by_c, by_kw;
    FwdRows<R::NA> a;
    int K;
    __device__ C7FwdLoad(const T* x_, const T* w_, ConvDims d_)
        : x(x_), d(d_), b(w_, d_.o, d_.kh * d_.kw * d_.c, blockIdx.x * BN), by_c(d_.c), by_kw(d_.kw) {
        K = d.kh * d.kw * d.c;
#pragma unroll
        for (int i = 0; i < R::NA; ++i) a.set(i, d, blockIdx.y * (C7_BM * MW) + R::row(i), R::kc());
    }
    __device__ void load(int k0, unsigned char* As, unsigned char* Bs) const {
        const int tap = by_c.div(k0), c0 = k0 - tap * d.c;
        const int ky = by_kw.div(tap), kx = tap - ky * d.kw;
        const long long toff = FwdRows<R::NA>::tap(d, ky, kx, c0);
#pragma unroll
        for (int i = 0; i < R::NA; ++i)
            wg_cp16(c7_kdst<R::G::RB>(As, threadIdx.x + 256 * i), x + (a.rb[i] + toff), a.ok(i, d, ky, kx));
        b.load(Bs, k0);
    }
};

// Grad-input, stride 1: A = gy at output pixel (iy + pad - ky, ix + pad - kx) (rows: GradInputRows),
// B = wT [c][k = (ky, kx, o)].
template <int BN, int BK, class T, int MW = 1>
struct C7BwdInputLoad {
    using R = C7Rows<BK, T, MW>;
    const T* gy;
    ConvDims d;
    C7BRows<BN, BK, T> b;
    FastDiv by_o, by_kw;
    GradInputRows<R::NA> a;
    int K;
    __device__ C7BwdInputLoad(const T* gy_, const T* wt_, ConvDims d_)
        : gy(gy_), d(d_), b(wt_, d_.c, d_.kh * d_.kw * d_.o, blockIdx.x * BN), by_o(d_.o), by_kw(d_.kw) {
        K = d.kh * d.kw * d.o;
#pragma unroll
        for (int i = 0; i < R::NA; ++i) a.set(i, d, blockIdx.y * (C7_BM * MW) + R::row(i), R::kc());
    }
    __device__ void load(int k0, unsigned char* As, unsigned char* Bs) const {
        const int tap = by_o.div(k0), o0 = k0 - tap * d.o;
        const int ky = by_kw.div(tap), kx = tap - ky * d.kw;
        const long long toff = GradInputRows<R::NA>::tap(d, ky, kx, o0);
#pragma unroll
        for (int i = 0; i < R::NA; ++i)
            wg_cp16(c7_kdst<R::G::RB>(As, threadIdx.x + 256 * i), gy + (a.rb[i] + toff), a.ok(i, d, ky, kx));
        b.load(Bs, k0);
    }
};

// Grad-input of a strided convolution, residue class blockIdx.z (StrideClass, conv_gather.cuh): A = gy
// gathered for the class's pixels (rows: ClassRows) [m][k = (tap j of the class, o)], B = wT [c][k] at the
// class's taps, column (ky kw + kx) O + o0 with ky = ry + s jy, kx = rx + s jx.
template <int BN, int BK, class T, int MW = 1>
struct C7BwdInputClassLoad {
    using R = C7Rows<BK, T, MW>;
    const T* gy;
    ConvDims d;
    StrideClass cl;
    C7BRows<BN, BK, T> b;
    FastDiv by_o, by_nkx;
    ClassRows<R::NA> a;
    __device__ C7BwdInputClassLoad(const T* gy_, const T* wt_, ConvDims d_,
                                   const StrideClass& cl_)
        : gy(gy_), d(d_), cl(cl_), b(wt_, d_.c, d_.kh * d_.kw * d_.o, blockIdx.x * BN), by_o(d_.o),
          by_nkx(cl_.nkx > 0 ? cl_.nkx : 1) {
#pragma unroll
        for (int i = 0; i < R::NA; ++i) a.set(i, d, cl, blockIdx.y * (C7_BM * MW) + R::row(i), R::kc());
    }
    __device__ void load(int k0, unsigned char* As, unsigned char* Bs) const {
        const int t = by_o.div(k0), o0 = k0 - t * d.o;
        const int jy = by_nkx.div(t), jx = t - jy * cl.nkx;
        const long long toff = ClassRows<R::NA>::tap(d, jy, jx, o0);
#pragma unroll
        for (int i = 0; i < R::NA; ++i)
            wg_cp16(c7_kdst<R::G::RB>(As, threadIdx.x + 256 * i), gy + (a.rb[i] + toff), a.ok(i, d, jy, jx));
        b.load(Bs, ((cl.ry + cl.s * jy) * d.kw + cl.rx + cl.s * jx) * d.o + o0);
    }
};

// One 128 MW x BN block tile of A . B^T over k in [k_begin, k_end) (k-tiles of BK elements of T; the loader
// zero-fills past k_end), operands K-major in the RB-byte swizzle layout (TRANS false) or (bf16 only)
// MN-major without swizzle (true); the epilogue E receives the accumulators. The ring starts on a
// 1024-byte boundary (the swizzle pattern's repeat; the launch gives 1 KB more than the stages).
template <int BN, int BK, int STAGES, bool TRANS, class T, int MW, class L, class E>
__device__ __forceinline__ void c7_gemm(const L& ld, const E& store, int k_begin, int k_end) {
    constexpr bool TF32 = sizeof(T) == 4;
    static_assert(!(TF32 && TRANS), "tf32 wgmma reads K-major operands only");
    constexpr int RB = C7Geo<BK, T>::RB;
    constexpr int AHEAD = STAGES - 2;  // k-tiles of copies in flight ahead of the MMAs
    constexpr int A_BYTES = C7_BM * MW * RB, STAGE = (C7_BM * MW + BN) * RB;
    constexpr int SBO = 8 * RB;  // both layouts: 8 rows (MN-major: 8 row groups' k) of RB bytes
    extern __shared__ __align__(128) unsigned char c7_smem_raw[];
    unsigned char* c7_smem = wg_align1024(c7_smem_raw);
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)(STAGES * STAGE + 1024)) __trap();
    // Zeroed before the prologue, pinned there by empty asm: left to itself NVVM may sink the zeroing into
    // the paths after the k-tile count test, and ptxas then serialises every wgmma (C7515: non-wgmma
    // instructions defining accumulators inside the pipeline), as it did to the strided grad-input.
    float acc[MW][BN / 2];
#pragma unroll
    for (int m = 0; m < MW; ++m)
#pragma unroll
        for (int i = 0; i < BN / 2; ++i) {
            acc[m][i] = 0.0f;
            asm volatile("" : "+f"(acc[m][i]));
        }
    const int ntiles = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
#pragma unroll
    for (int s = 0; s < AHEAD; ++s) {
        if (s < ntiles) ld.load(k_begin + s * BK, c7_smem + s * STAGE, c7_smem + s * STAGE + A_BYTES);
        asm volatile("cp.async.commit_group;" ::: "memory");  // empty groups keep the count uniform
    }
    const int wg = threadIdx.x / 128;  // this warpgroup's rows start at row 64 MW wg: 8 MW row groups of SBO
    for (int kt = 0; kt < ntiles; ++kt) {
        asm volatile("cp.async.wait_group %0;" ::"n"(AHEAD - 1) : "memory");
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        // Tile kt is in for every thread, and every warpgroup has waited for its MMAs of tile kt - 2 (the
        // wait_group 1 below, last iteration), so their stage can be refilled.
        __syncthreads();
        const int nt = kt + AHEAD;
        if (nt < ntiles) {
            unsigned char* st = c7_smem + (nt % STAGES) * STAGE;
            ld.load(k_begin + nt * BK, st, st + A_BYTES);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
        const unsigned char* As = c7_smem + (kt % STAGES) * STAGE + wg * MW * 8 * SBO;
        const unsigned char* Bs = c7_smem + (kt % STAGES) * STAGE + A_BYTES;
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int s = 0; s < RB / 32; ++s)  // k-steps of 32 bytes: 16 bf16 or 8 tf32
#pragma unroll
            for (int m = 0; m < MW; ++m) {  // the warpgroup's m64 tiles, 64 rows (8 SBO) apart
                const unsigned char* Am = As + m * 8 * SBO;
                if (TRANS) wg_mma<BN, true>(acc[m], wg_desc(Am + 256 * s, 128, SBO), wg_desc(Bs + 256 * s, 128, SBO));
                else if (TF32) wg_mma_tf32<BN>(acc[m], wg_desc_swz<RB>(Am + 32 * s), wg_desc_swz<RB>(Bs + 32 * s));
                else wg_mma<BN, false>(acc[m], wg_desc_swz<RB>(Am + 32 * s), wg_desc_swz<RB>(Bs + 32 * s));
            }
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");  // tile kt - 1's MMAs are done
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    store(acc);
}

// Row in the output of accumulator half h of m64 tile m (wgmma.cuh: warp w of warpgroup wg, lane (g, q) holds
// acc[m][4 j + 2 h + e] at block row 64 MW wg + 64 m + 16 w + g + 8 h, column 8 j + 2 q + e).
template <int MW>
__device__ __forceinline__ int c7_row(int m, int h) {
    const int lane = threadIdx.x % 32, wq = (threadIdx.x / 32) % 4, wg = threadIdx.x / 128;
    return blockIdx.y * (C7_BM * MW) + 64 * MW * wg + 64 * m + 16 * wq + lane / 4 + 8 * h;
}

// Calls f(r, c, v) for each accumulator of the thread.
template <int BN, int MW, class F>
__device__ __forceinline__ void c7_each(const float (&acc)[MW][BN / 2], F f) {
    const int q = threadIdx.x % 4, col0 = blockIdx.x * BN;
#pragma unroll
    for (int m = 0; m < MW; ++m)
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
            for (int j = 0; j < BN / 8; ++j)
#pragma unroll
                for (int e = 0; e < 2; ++e) f(c7_row<MW>(m, h), col0 + 8 * j + 2 * q + e, acc[m][4 * j + 2 * h + e]);
}

// Stores (add: adds to) output row r of accumulator half h of m64 tile m: the thread's column pairs
// (2q, 2q + 1) as one 8-byte store each (N even), or with out16 as one 4-byte bf16 pair.
template <int BN, int MW>
__device__ __forceinline__ void c7_store_row(const float (&acc)[MW][BN / 2], int m, int h, long long r, float* out,
                                             int N, bool add, bool out16) {
    const int c0 = blockIdx.x * BN + 2 * (threadIdx.x % 4);
    if (out16) {
        unsigned* p = reinterpret_cast<unsigned*>(reinterpret_cast<unsigned short*>(out) + r * N + c0);
#pragma unroll
        for (int j = 0; j < BN / 8; ++j)
            if (c0 + 8 * j < N) p[4 * j] = pack_bf16x2(acc[m][4 * j + 2 * h], acc[m][4 * j + 2 * h + 1]);
        return;
    }
    float2* p = reinterpret_cast<float2*>(out + r * N + c0);
    // add: the row's old pairs all loaded before any sum is stored (pair by pair, ptxas waited out one
    // load's latency per pair: see tc_add_acc); the same sums, the same bits.
    float2 old[BN / 8];
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
        old[j] = make_float2(0.0f, 0.0f);
        if (add && c0 + 8 * j < N) old[j] = p[4 * j];
    }
#pragma unroll
    for (int j = 0; j < BN / 8; ++j)
        if (c0 + 8 * j < N) {
            float2 v = make_float2(acc[m][4 * j + 2 * h], acc[m][4 * j + 2 * h + 1]);
            if (add) {
                v.x += old[j].x;
                v.y += old[j].y;
            }
            p[4 * j] = v;
        }
}

// Row-major [M][N] output (add: added to what it holds), elements past M or N dropped. A thread holds column
// pairs (2q, 2q + 1): with N even a pair is one 8-byte store (aligned, and both columns exist whenever the
// first does). out16 (ConvDims::out16, never with add): out holds bf16, rounded to nearest even, a pair one
// 4-byte store, as v6's tc_store_acc_bf16.
template <int BN, int MW = 1>
struct C7Out {
    float* out;
    int M, N;
    bool add;
    bool out16 = false;
    __device__ void operator()(const float (&acc)[MW][BN / 2]) const {
        unsigned short* o16 = reinterpret_cast<unsigned short*>(out);
        if (N % 2) {
            c7_each<BN, MW>(acc, [&](int r, int c, float v) {
                if (r >= M || c >= N) return;
                if (out16) {
                    unsigned short b;
                    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(b) : "f"(v));
                    o16[(long long)r * N + c] = b;
                } else {
                    conv_put(out + (long long)r * N + c, v, add);
                }
            });
            return;
        }
#pragma unroll
        for (int m = 0; m < MW; ++m)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int r = c7_row<MW>(m, h);
                if (r < M) c7_store_row<BN, MW>(acc, m, h, r, out, N, add, out16);
            }
    }
};

// Class row r of a strided grad-input (blockIdx.z's class) to (d.add: added to) its pixel's row of gx
// [n, h, w, C].
template <int BN, int MW = 1>
struct C7ClassOut {
    float* gx;
    ConvDims d;
    StrideClass cl;
    __device__ void operator()(const float (&acc)[MW][BN / 2]) const {
        const int c0 = blockIdx.x * BN + 2 * (threadIdx.x % 4);
#pragma unroll
        for (int m = 0; m < MW; ++m)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int r = c7_row<MW>(m, h);
                if (r >= cl.M) continue;
                int n, iy, ix;
                cl.pixel(r, n, iy, ix);
                float* row = gx + (((long long)n * d.h + iy) * d.w + ix) * d.c;
#pragma unroll
                for (int j = 0; j < BN / 8; ++j)
#pragma unroll
                    for (int e = 0; e < 2; ++e)
                        if (c0 + 8 * j + e < d.c) conv_put(row + c0 + 8 * j + e, acc[m][4 * j + 2 * h + e], d.add);
            }
    }
};

// The forward's output as C7Out plus the batch-norm statistics of each 128-row part of the block per column
// (conv + BN fusion, as v6's Tc6OutStats): the sum, then the sum of squares about the part's own mean, from
// the accumulators in registers, reduced over each warp's 8 row lanes, then over the part's warps (MW = 1:
// the block's 8; MW = 2: a warpgroup's 4, whose two m64 tiles are its 128 rows) through shared memory (the
// ring's, idle after a barrier); written to part_sum / part_m2 [rows / 128][N], the same layout either way.
template <int BN, int MW = 1>
struct C7OutStats {
    static constexpr int WPP = 8 / MW;  // warps per part
    float* y;
    float* part_sum;
    float* part_m2;
    int M, N;
    bool out16;  // y stored as bf16, the statistics those of the rounded values (as Tc6OutStats)
    // Per column (j, e): Σ over the thread's valid rows of f(v, j, e), reduced over the warp's lanes g, then
    // over the part's warps into tot[MW][BN] (barriers inside).
    template <class F>
    __device__ void col_sums(float* red, float* tot, const float (&acc)[MW][BN / 2], F f) const {
        const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, q = lane % 4;
#pragma unroll
        for (int j = 0; j < BN / 8; ++j)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                float t = 0.0f;
#pragma unroll
                for (int m = 0; m < MW; ++m)
#pragma unroll
                    for (int h = 0; h < 2; ++h)
                        if (c7_row<MW>(m, h) < M) t += f(acc[m][4 * j + 2 * h + e], j, e);
#pragma unroll
                for (int off = 4; off < 32; off <<= 1) t += __shfl_xor_sync(0xffffffffu, t, off);
                if (lane < 4) red[warp * BN + 8 * j + 2 * q + e] = t;
            }
        __syncthreads();
        for (int i = threadIdx.x; i < MW * BN; i += 256) {
            const int part = i / BN, c = i % BN;
            float t = 0.0f;
#pragma unroll
            for (int w = 0; w < WPP; ++w) t += red[(part * WPP + w) * BN + c];
            tot[i] = t;
        }
        __syncthreads();
    }
    __device__ void operator()(const float (&acc)[MW][BN / 2]) const {
        C7Out<BN, MW>{y, M, N, false, out16}(acc);
        const auto val = [&](float v) { return out16 ? bf16_round(v) : v; };
        extern __shared__ __align__(128) unsigned char c7_smem[];
        float* red = reinterpret_cast<float*>(c7_smem);  // [8][BN]
        float* sum = red + 8 * BN;                         // [MW][BN]
        float* m2 = sum + MW * BN;                         // [MW][BN]
        const int col0 = blockIdx.x * BN;
        const int part = (threadIdx.x / 32) / WPP;  // this thread's part
        const int prow0 = (blockIdx.y * MW + part) * C7_BM;
        const float rows = (float)max(1, min(C7_BM, M - prow0));
        __syncthreads();  // every warpgroup's MMAs are done with the ring
        col_sums(red, sum, acc, [&](float v, int, int) { return val(v); });
        // The column means once per column (IEEE divisions, two per column inside the row loop before);
        // the same quotients, so the same bits.
        const int q = threadIdx.x % 4;
        float mean[BN / 8][2];
#pragma unroll
        for (int j = 0; j < BN / 8; ++j)
#pragma unroll
            for (int e = 0; e < 2; ++e) mean[j][e] = sum[part * BN + 8 * j + 2 * q + e] / rows;
        col_sums(red, m2, acc, [&](float v, int j, int e) {
            const float dv = val(v) - mean[j][e];
            return dv * dv;
        });
        for (int i = threadIdx.x; i < MW * BN; i += 256) {
            const int pp = blockIdx.y * MW + i / BN, c = i % BN;
            if (pp * C7_BM < M && col0 + c < N) {
                part_sum[(long long)pp * N + col0 + c] = sum[i];
                part_m2[(long long)pp * N + col0 + c] = m2[i];
            }
        }
    }
};

// Grad-weight: A = x gathered as [k = p][m = (ky, kx, c)], B = gy [k = p][n = o], both MN-major. The chunk
// of pixel q of a tile (k-tile of BK pixels) and row group g (m or n = 8 g .. + 7) sits at byte
// 16 (g BK + q) = (g (BK / 8) + q / 8) * 128 + (q % 8) * 16: core matrix (group, pixel / 8), row pixel % 8
// (wgmma.cuh, MN-major). A warp copies 16 pixels x 2 adjacent row groups (C7WChunk), so one instruction
// takes both 16-byte halves of each pixel's 32-byte sector; the first v7 copied 32 pixels x 1 group and
// fetched every sector twice (cusim memstats: 2x the ideal sectors). Each 8-lane phase still fills 128
// contiguous bytes (8 pixels of one group). A thread's pixel and row groups are the same in every k-tile:
// their taps and channels are computed once.
template <int BK>
struct C7WChunk {
    static_assert(BK % 16 == 0 && 128 % BK == 0, "a warp spans 16 pixels, 8 warps span 128 / BK row pairs");
    static __device__ int pix() { return 16 * ((threadIdx.x / 32) % (BK / 16)) + threadIdx.x % 16; }
    static __device__ int group(int i) {
        return 2 * ((threadIdx.x / 32) / (BK / 16) + (128 / BK) * i) + (threadIdx.x % 32) / 16;
    }
};
// MW = 2: tiles of 256 rows (m), the same chunk mapping over twice the row groups.
template <int BN, int BK, int MW = 1>
struct C7BwdWeightLoad {
    static constexpr int NA = C7_BM * MW * BK / 8 / 256;
    static constexpr int NB = (BN * BK / 8 + 255) / 256;
    const unsigned short* x;
    const unsigned short* gy;
    ConvDims d;
    FastDiv by_ow, by_oh;
    int p_end, ky[NA], kx[NA];
    int toff[NA];  // offset of row group i's tap and channels from its pixel's (iy, ix) = (oy s - pad, ...)
    int ocol[NB];        // output channel of B chunk i (0 where cok is false: past the tile's columns or O)
    bool cok[NB];
    __device__ C7BwdWeightLoad(const unsigned short* x_, const unsigned short* gy_, ConvDims d_, int p_end_)
        : x(x_), gy(gy_), d(d_), by_ow(d_.ow), by_oh(d_.oh), p_end(p_end_) {
        const int K = d.kh * d.kw * d.c;
#pragma unroll
        for (int i = 0; i < NA; ++i) {
            const int m = blockIdx.y * (C7_BM * MW) + 8 * C7WChunk<BK>::group(i);
            const int tap = m / d.c;
            ky[i] = m < K ? tap / d.kw : -(1 << 28);  // row groups past K read zeros
            kx[i] = tap % d.kw;
            toff[i] = m < K ? (ky[i] * d.w + kx[i]) * d.c + (m - tap * d.c) : 0;  // under kh w c: 32 bits
        }
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int g = C7WChunk<BK>::group(i), o = blockIdx.x * BN + 8 * g;
            cok[i] = g < BN / 8 && o < d.o;
            ocol[i] = cok[i] ? o : 0;  // a 16-byte-aligned address even where nothing is read
        }
    }
    __device__ void load(int k0, unsigned char* As, unsigned char* Bs) const {
        const int q = C7WChunk<BK>::pix(), p = k0 + q;  // this thread's pixel in every chunk
        const int r = by_ow.div(p), ox = p - r * d.ow;
        const int n = by_oh.div(r), iy = (r - n * d.oh) * d.stride - d.pad, ix = ox * d.stride - d.pad;
        const long long pix = (((long long)n * d.h + iy) * d.w + ix) * d.c;
        const bool in = p < p_end;
#pragma unroll
        for (int i = 0; i < NA; ++i) {
            const bool ok = in && (unsigned)(iy + ky[i]) < (unsigned)d.h && (unsigned)(ix + kx[i]) < (unsigned)d.w;
            wg_cp16(As + 16 * (C7WChunk<BK>::group(i) * BK + q), x + (pix + toff[i]), ok);
        }
        const long long prow = (long long)p * d.o;
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int g = C7WChunk<BK>::group(i);
            if ((BN * BK / 8) % 256 && g >= BN / 8) break;
            const bool ok = in && cok[i];
            wg_cp16(Bs + 16 * (g * BK + q), gy + (prow + ocol[i]), ok);
        }
    }
};

// Adds element (m, o) of a pixel range's gw^T into gw [o][m] (MW = 2: the 256-row tiles).
template <int BN, int MW = 1>
struct C7WeightOut {
    float* gw;
    int K, O;
    __device__ void operator()(const float (&acc)[MW][BN / 2]) const {
        c7_each<BN, MW>(acc, [&](int r, int c, float v) {
            if (r < K && c < O) atomicAdd(gw + (long long)c * K + r, v);
        });
    }
};

// tf32 grad-weight. tf32 wgmma takes K-major operands only, and a grad-weight reduces over pixels, the outer
// axis of both NHWC operands, so its tiles cannot be copied as they lie: the copies go through registers and
// are stored transposed. A k-tile is 32 pixels; a tile row is the 32 pixels' fp32 values of one m (A) or one
// o (B), 128 bytes in the forward's 128-byte swizzle layout (c7_kdst's), read by the same tf32 k-steps. A
// thread holds float4s of 4 consecutive m (or o) of one pixel: a warp loads 16 pixels x 8 consecutive m (lanes
// 16 apart take the two float4 of a pixel's 32-byte sector) and stores each float4's 4 values to 4 rows at its
// pixel's column, where the swizzle spreads a store's 32 lanes over 32 banks. Two stages: tile kt + 1's
// registers (fetched during tile kt - 2) are stored while tile kt's MMAs run, then tile kt + 3 is fetched.
// MW = 2: tiles of 256 rows (m), the same chunk mapping over twice the row groups.
template <int BN, int MW = 1>
struct C7WeightTf32Load {
    static constexpr int NA = C7_BM * MW / 32, NB = BN / 32;  // float4 chunks a thread, per k-tile
    struct Regs {
        float4 a[NA], b[NB];
    };
    const float* x;
    const float* gy;
    ConvDims d;
    FastDiv by_ow, by_oh;
    int p_end, ky[NA], kx[NA];
    // offset of chunk i's tap and channels from its pixel's (iy, ix) = (oy s - pad, ...): under kh w c, 32 bits
    // (64 took 8 registers more, which the 256-row tiles' n128 kernel spilled)
    int toff[NA];
    int ocol[NB];        // output channel of B chunk i (0 where cok is false)
    bool cok[NB];
    // This thread's pixel of a k-tile, and the 4-row group of its chunk i (rows 4 group .. + 3).
    static __device__ int pix() { return 16 * ((threadIdx.x / 32) & 1) + (threadIdx.x & 15); }
    static __device__ int group(int i) { return 2 * ((threadIdx.x / 64) + 4 * i) + ((threadIdx.x & 31) >> 4); }
    __device__ C7WeightTf32Load(const float* x_, const float* gy_, ConvDims d_, int p_end_)
        : x(x_), gy(gy_), d(d_), by_ow(d_.ow), by_oh(d_.oh), p_end(p_end_) {
        const int K = d.kh * d.kw * d.c;
#pragma unroll
        for (int i = 0; i < NA; ++i) {
            const int m = blockIdx.y * (C7_BM * MW) + 4 * group(i);
            const int tap = m / d.c;
            ky[i] = m < K ? tap / d.kw : -(1 << 28);  // rows past K read zeros
            kx[i] = tap % d.kw;
            toff[i] = m < K ? (ky[i] * d.w + kx[i]) * d.c + (m - tap * d.c) : 0;
        }
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int o = blockIdx.x * BN + 4 * group(i);
            cok[i] = o < d.o;
            ocol[i] = cok[i] ? o : 0;
        }
    }
    __device__ void fetch(Regs& r, int k0) const {
        const int p = k0 + pix();
        const int rr = by_ow.div(p), ox = p - rr * d.ow;
        const int n = by_oh.div(rr), iy = (rr - n * d.oh) * d.stride - d.pad, ix = ox * d.stride - d.pad;
        const long long px = (((long long)n * d.h + iy) * d.w + ix) * d.c;
        const bool in = p < p_end;
        const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
        for (int i = 0; i < NA; ++i) {
            const bool ok = in && (unsigned)(iy + ky[i]) < (unsigned)d.h && (unsigned)(ix + kx[i]) < (unsigned)d.w;
            r.a[i] = ok ? *reinterpret_cast<const float4*>(x + (px + toff[i])) : zero;
        }
        const long long prow = (long long)p * d.o;
#pragma unroll
        for (int i = 0; i < NB; ++i)
            r.b[i] = in && cok[i] ? *reinterpret_cast<const float4*>(gy + (prow + ocol[i])) : zero;
    }
    // Chunk v (4 consecutive rows from 4 g, this thread's pixel q) into the K-major tile at t.
    static __device__ void put4(unsigned char* t, int g, const float4& v) {
        const int q = pix();
        const float e[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) *reinterpret_cast<float*>(t + wg_swz_chunk<128>(4 * g + k, q >> 2) + 4 * (q & 3)) = e[k];
    }
    __device__ void put(const Regs& r, unsigned char* As, unsigned char* Bs) const {
#pragma unroll
        for (int i = 0; i < NA; ++i) put4(As, group(i), r.a[i]);
#pragma unroll
        for (int i = 0; i < NB; ++i) put4(Bs, group(i), r.b[i]);
    }
};

// One (128 MW) x BN block tile of A . B^T over k in [k_begin, k_end) with a register-staged loader L (fetch:
// global to registers, put: registers to a stage), k-tiles of 32 fp32 values (128-byte rows), two stages in
// shared memory, tf32 MMAs; the epilogue E receives the accumulators. SETS = 2: two register sets, a tile's
// loads have two tiles' MMAs to land in (a global load outlasts one 128-row tile's MMAs). SETS = 1 (the
// 256-row tiles, MW = 2: twice the MMAs per k-tile, and no registers for a second set beside 128
// accumulators): tile kt + 2 is fetched into the one set right after it stored tile kt + 1.
template <int BN, int MW, int SETS, class L, class E>
__device__ __forceinline__ void c7_gemm_rs(const L& ld, const E& store, int k_begin, int k_end) {
    static_assert(SETS == 1 || SETS == 2, "one or two register sets");
    constexpr int RB = 128, BK = 32, SBO = 8 * RB, A_BYTES = C7_BM * MW * RB, STAGE = (C7_BM * MW + BN) * RB;
    extern __shared__ __align__(128) unsigned char c7rs_smem_raw[];
    unsigned char* smem = wg_align1024(c7rs_smem_raw);
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)(2 * STAGE + 1024)) __trap();
    float acc[MW][BN / 2];  // zeroed before the prologue and pinned there (c7_gemm: C7515)
#pragma unroll
    for (int m = 0; m < MW; ++m)
#pragma unroll
        for (int i = 0; i < BN / 2; ++i) {
            acc[m][i] = 0.0f;
            asm volatile("" : "+f"(acc[m][i]));
        }
    const int ntiles = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
    typename L::Regs r0, r1;
    if (ntiles > 0) {
        ld.fetch(r0, k_begin);
        ld.put(r0, smem, smem + A_BYTES);
    }
    if (SETS == 2) {
        if (ntiles > 1) ld.fetch(r1, k_begin + BK);
        if (ntiles > 2) ld.fetch(r0, k_begin + 2 * BK);
    } else if (ntiles > 1) {
        ld.fetch(r0, k_begin + BK);
    }
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    __syncthreads();
    const int wg = threadIdx.x / 128;  // this warpgroup's 64 MW rows: 8 MW row groups of SBO
    // Step kt: tile kt's MMAs, then tile kt + 1 stored from `next` (its set) and tile kt + SETS + 1 fetched
    // into it.
    const auto step = [&](int kt, typename L::Regs& next) {
        const unsigned char* As = smem + (kt % 2) * STAGE + wg * MW * 8 * SBO;
        const unsigned char* Bs = smem + (kt % 2) * STAGE + A_BYTES;
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int s = 0; s < RB / 32; ++s)
#pragma unroll
            for (int m = 0; m < MW; ++m)  // the warpgroup's m64 tiles, 64 rows (8 SBO) apart
                wg_mma_tf32<BN>(acc[m], wg_desc_swz<RB>(As + m * 8 * SBO + 32 * s), wg_desc_swz<RB>(Bs + 32 * s));
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");  // this warpgroup's tile kt - 1 is done
        __syncthreads();  // ... every warpgroup's: its stage, (kt + 1) % 2, takes tile kt + 1
        if (kt + 1 < ntiles) {
            unsigned char* st = smem + ((kt + 1) % 2) * STAGE;
            ld.put(next, st, st + A_BYTES);
            if (kt + SETS + 1 < ntiles) ld.fetch(next, k_begin + (kt + SETS + 1) * BK);
        }
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // the stores, before the MMAs read them
        __syncthreads();
    };
    if (SETS == 2) {
        for (int kt = 0; kt < ntiles; kt += 2) {  // unrolled by two: each set stays in its registers
            step(kt, r1);
            if (kt + 1 < ntiles) step(kt + 1, r0);
        }
    } else {
        for (int kt = 0; kt < ntiles; ++kt) step(kt, r0);
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    store(acc);
}

template <int BN, int BK, int STAGES, class T, int MW = 1>
__device__ __forceinline__ void conv_fwd_v7(float* y, const T* x, const T* w, ConvDims d) {
    const C7FwdLoad<BN, BK, T, MW> ld(x, w, d);
    c7_gemm<BN, BK, STAGES, false, T, MW>(ld, C7Out<BN, MW>{y, d.n * d.oh * d.ow, d.o, false}, 0, ld.K);
}
template <int BN, int BK, int STAGES, class T, int MW = 1>
__device__ __forceinline__ void conv_fwd_stats_v7(float* y, float* part_sum, float* part_m2, const T* x, const T* w,
                                                  ConvDims d) {
    const C7FwdLoad<BN, BK, T, MW> ld(x, w, d);
    c7_gemm<BN, BK, STAGES, false, T, MW>(
        ld, C7OutStats<BN, MW>{y, part_sum, part_m2, d.n * d.oh * d.ow, d.o, d.out16 != 0}, 0, ld.K);
}
template <int BN, int BK, int STAGES, class T, int MW = 1>
__device__ __forceinline__ void conv_bwd_input_v7(float* gx, const T* gy, const T* wt, ConvDims d) {
    if (d.out16 && d.add) __trap();  // a bf16 gx is stored, never added to (the launcher asks only so)
    const C7BwdInputLoad<BN, BK, T, MW> ld(gy, wt, d);
    c7_gemm<BN, BK, STAGES, false, T, MW>(ld, C7Out<BN, MW>{gx, d.n * d.h * d.w, d.c, d.add != 0, d.out16 != 0},
                                          0, ld.K);
}
// Stride > 1: one residue class per blockIdx.z (s² of them); grid.y covers the largest class.
template <int BN, int BK, int STAGES, class T, int MW = 1>
__device__ __forceinline__ void conv_bwd_input_strided_v7(float* gx, const T* gy, const T* wt, ConvDims d) {
    if (d.out16) __trap();  // bf16 grad-inputs are stride 1's (the launcher asks only there)
    const StrideClass cl(d, blockIdx.z);
    if ((int)blockIdx.y * C7_BM * MW >= cl.M) return;  // the whole block: no barrier is skipped by part of it
    if (d.add && cl.K == 0) return;  // a class no tap reaches adds zeros: nothing to read or write
    const C7BwdInputClassLoad<BN, BK, T, MW> ld(gy, wt, d, cl);
    c7_gemm<BN, BK, STAGES, false, T, MW>(ld, C7ClassOut<BN, MW>{gx, d, cl}, 0, cl.K);
}
// gw must be zeroed: each block adds its slice of the output pixels (blockIdx.z). MW = 2 (`_m256`): tiles of
// 256 rows, each warpgroup two m64 tiles as the forward's.
template <int BN, int BK, int STAGES, int MW = 1>
__device__ __forceinline__ void conv_bwd_weight_v7(float* gw, const unsigned short* gy, const unsigned short* x,
                                                   ConvDims d, int p_per_split) {
    const int P = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    const int p0 = blockIdx.z * p_per_split, p1 = min(P, p0 + p_per_split);
    if (p0 >= p1) return;  // the whole block
    const C7BwdWeightLoad<BN, BK, MW> ld(x, gy, d, p1);
    c7_gemm<BN, BK, STAGES, true, unsigned short, MW>(ld, C7WeightOut<BN, MW>{gw, K, d.o}, p0, p1);
}

// tf32 (fp32 tensors, C % 4 == 0, O % 4 == 0): gw must be zeroed; each block adds its slice of the output
// pixels (blockIdx.z), as conv_bwd_weight_v7. MW = 2 (`_rs1_m256`): tiles of 256 rows on one register set.
template <int BN, int MW = 1>
__device__ __forceinline__ void conv_bwd_weight_v7_tf32(float* gw, const float* gy, const float* x, ConvDims d,
                                                        int p_per_split) {
    const int P = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    const int p0 = blockIdx.z * p_per_split, p1 = min(P, p0 + p_per_split);
    if (p0 >= p1) return;  // the whole block
    const C7WeightTf32Load<BN, MW> ld(x, gy, d, p1);
    c7_gemm_rs<BN, MW, MW == 1 ? 2 : 1>(ld, C7WeightOut<BN, MW>{gw, K, d.o}, p0, p1);
}

// wt [c, ky, kx, o] = w [o, ky, kx, c] (IHWO): the grad-input B operand, one K-major row per input channel.
// ------------------------------------------------------------------------------------------------ halo
// `_halo`, `_halo_m256` (2026-11-28, written without a GPU): the stride-1 3 × 3 (pad 1) forward and
// grad-input with the block's A operand resident in shared memory. im2col copies every input pixel from L2
// once per tap, nine times; Nsight Compute put the first v7 at 74 % of the L2's throughput and 21 % of the
// SMs' at ResNet-18's layer 1 (H200, 2026-11-27). Here the GEMM rows are positions of the zero-padded grid,
// (H + 2) × (W + 2) per image, so a tap is one shift of the row index, (ky - 1)(W + 2) + kx - 1 (the
// grad-input: its negative): a block copies the window of its rows ± (W + 3), all channels, once, as planes
// of 16-byte chunks (chunk j of window pixel p at j LBO + 16 p: the canonical no-swizzle K-major layout
// with SBO = 128 bytes, so a row shift is a 16-byte shift of the descriptor's start), and each k-step's A
// descriptor starts at the shifted row. The rows on the padding (an eighth at 32 × 32, a quarter at 16 × 16)
// compute values the epilogue drops. The B tiles (weights; k tap-major as the other pipelines) stream through
// the ring. Same k-steps in the same order as the other pipelines: the same sums, bit for bit. Views
// (gridDim.z, the batch-norm groups) are tiled apart, so the statistics of a block stay inside one view.
template <class T, int MW>
struct C7Halo {
    static constexpr int CH = C7Geo<64, T>::CH;  // channels per 16-byte chunk
    int n0, H, W, Wp, img, Mv, ca, WR, LBO, p0;
    FastDiv by_img, by_wp;
    __device__ C7Halo(int n, int H_, int W_, int ca_)
        : H(H_), W(W_), Wp(W_ + 2), img((H_ + 2) * (W_ + 2)), ca(ca_), by_img((H_ + 2) * (W_ + 2)), by_wp(W_ + 2) {
        const int nv = n / (int)gridDim.z;  // images per view
        n0 = (int)blockIdx.z * nv;
        Mv = nv * img;
        WR = C7_BM * MW + 2 * (Wp + 1);
        LBO = (WR * 16 + 127) / 128 * 128 + 64;  // odd multiple of 64: a copy phase's two planes, distinct banks
        p0 = (int)blockIdx.y * C7_BM * MW;
    }
    // The tensor row (n, y, x) of padded row p of this view, or -1 on the padding or past the view.
    __device__ int real_row(int p) const {
        if (p < 0 || p >= Mv) return -1;
        const int n = by_img.div(p), r = p - n * img;
        const int py = by_wp.div(r), px = r - py * Wp;
        if (py < 1 || py > H || px < 1 || px > W) return -1;
        return ((n0 + n) * H + py - 1) * W + px - 1;
    }
    __device__ int bytes() const { return ca / CH * LBO; }
};

// The window: padded rows p0 - (W + 3) .. p0 + 128 MW + W + 2 of `a` (ca channels), zeros on the padding. A
// warp copies 16 pixels × a pair of adjacent chunks (each pixel's 32-byte sector in one instruction); an
// 8-lane phase fills 64 contiguous bytes in each of two planes LBO apart (an odd multiple of 64): no bank
// conflict.
template <class T, int MW>
__device__ __forceinline__ void c7_halo_window(const C7Halo<T, MW>& g, unsigned char* win, const T* a) {
    constexpr int CH = C7Halo<T, MW>::CH;
    const int pairs = g.ca / (2 * CH), units = (g.WR + 15) / 16 * pairs;
    const int lane = threadIdx.x % 32;
    for (int u = threadIdx.x / 32; u < units; u += 8) {
        const int pix = 16 * (u / pairs) + lane / 2, j = 2 * (u % pairs) + lane % 2;
        if (pix >= g.WR) continue;
        const int m = g.real_row(g.p0 - (g.Wp + 1) + pix);
        wg_cp16(win + j * g.LBO + 16 * pix, a + (m >= 0 ? (long long)m * g.ca + j * CH : 0), m >= 0);
    }
}

// One 128 MW x BN block tile over k in [0, 9 ca): the window copied with the first k-tile's B tile, then
// c7_gemm's ring and waits for the B tiles alone. GX: the grad-input's taps (shift negated).
template <int BN, int BK, int STAGES, bool GX, class T, int MW, class E>
__device__ __forceinline__ void c7_halo_gemm(const C7Halo<T, MW>& g, const T* a, const C7BRows<BN, BK, T>& b,
                                             const E& store) {
    constexpr bool TF32 = sizeof(T) == 4;
    constexpr int RB = C7Geo<BK, T>::RB, CH = C7Halo<T, MW>::CH;
    constexpr int AHEAD = STAGES - 2, STAGE = BN * RB;
    extern __shared__ __align__(128) unsigned char c7_smem_raw[];
    unsigned char* ring = wg_align1024(c7_smem_raw);
    unsigned char* win = ring + STAGES * STAGE;
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)(STAGES * STAGE + 1024 + g.bytes()) || g.ca % BK) __trap();
    float acc[MW][BN / 2];
#pragma unroll
    for (int m = 0; m < MW; ++m)
#pragma unroll
        for (int i = 0; i < BN / 2; ++i) {
            acc[m][i] = 0.0f;
            asm volatile("" : "+f"(acc[m][i]));  // pinned before the prologue, as in c7_gemm
        }
    const int ntiles = 9 * g.ca / BK;
    c7_halo_window(g, win, a);  // joins the first k-tile's group
#pragma unroll
    for (int s = 0; s < AHEAD; ++s) {
        if (s < ntiles) b.load(ring + s * STAGE, s * BK);
        asm volatile("cp.async.commit_group;" ::: "memory");
    }
    const int wg = threadIdx.x / 128;
    const int base = 16 * (g.Wp + 1 + 64 * MW * wg);  // this warpgroup's first row, unshifted
    for (int kt = 0; kt < ntiles; ++kt) {
        asm volatile("cp.async.wait_group %0;" ::"n"(STAGES - 3) : "memory");  // AHEAD - 1: tile kt is in
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncthreads();  // and every warpgroup is done with tile kt - 2's stage
        const int nt = kt + AHEAD;
        if (nt < ntiles) b.load(ring + (nt % STAGES) * STAGE, nt * BK);
        asm volatile("cp.async.commit_group;" ::: "memory");
        const int k0 = kt * BK, tap = k0 / g.ca, c0 = k0 - tap * g.ca;
        const int ky = tap / 3, kx = tap - 3 * ky;
        const int shift = GX ? (1 - ky) * g.Wp + 1 - kx : (ky - 1) * g.Wp + kx - 1;
        const unsigned char* A0 = win + (c0 / CH) * g.LBO + base + 16 * shift;
        const unsigned char* Bs = ring + (kt % STAGES) * STAGE;
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int s = 0; s < RB / 32; ++s)  // a k-step: two chunks (16 bf16, 8 tf32), planes 2s and 2s + 1
#pragma unroll
            for (int m = 0; m < MW; ++m) {
                const unsigned long long da = wg_desc(A0 + 2 * s * g.LBO + 1024 * m, g.LBO, 128);
                if (TF32) wg_mma_tf32<BN>(acc[m], da, wg_desc_swz<RB>(Bs + 32 * s));
                else wg_mma<BN, false>(acc[m], da, wg_desc_swz<RB>(Bs + 32 * s));
            }
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    store(acc);
}

// The tensor row of accumulator half h of m64 tile m (c7_row's block row on the padded grid), or -1.
template <class T, int MW>
__device__ __forceinline__ int c7_halo_row(const C7Halo<T, MW>& g, int m, int h) {
    const int lane = threadIdx.x % 32, wq = (threadIdx.x / 32) % 4, wg = threadIdx.x / 128;
    return g.real_row(g.p0 + 64 * MW * wg + 64 * m + 16 * wq + lane / 4 + 8 * h);
}

// Output rows on the tensor (add, out16 as C7Out; N even).
template <int BN, class T, int MW>
struct C7HaloOut {
    const C7Halo<T, MW>& g;
    float* out;
    int N;
    bool add, out16;
    __device__ void operator()(const float (&acc)[MW][BN / 2]) const {
#pragma unroll
        for (int m = 0; m < MW; ++m)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int r = c7_halo_row(g, m, h);
                if (r >= 0) c7_store_row<BN, MW>(acc, m, h, r, out, N, add, out16);
            }
    }
};

// C7HaloOut plus the block's batch-norm partials over its tensor rows (of the stored values): the column
// sum, the sum of squares about the block's mean and the row count, into hsum / hm2 [tile][N] and hcnt
// [tile], tile = blockIdx.z gridDim.y + blockIdx.y; conv_halo_stats_v7_f32 combines them per view.
template <int BN, class T, int MW>
struct C7HaloStats {
    const C7Halo<T, MW>& g;
    float* y;
    float* hsum;
    float* hm2;
    float* hcnt;
    int N;
    bool out16;
    __device__ void operator()(const float (&acc)[MW][BN / 2]) const {
        C7HaloOut<BN, T, MW>{g, y, N, false, out16}(acc);
        extern __shared__ __align__(128) unsigned char c7_smem_raw[];
        float* red = reinterpret_cast<float*>(wg_align1024(c7_smem_raw));  // [8][BN], then tot [BN], count
        float* tot = red + 8 * BN;
        const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, q = lane % 4;
        bool ok[MW][2];
        int mine = 0;
#pragma unroll
        for (int m = 0; m < MW; ++m)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                ok[m][h] = c7_halo_row(g, m, h) >= 0;
                mine += ok[m][h];
            }
        const auto val = [&](float v) { return out16 ? bf16_round(v) : v; };
        __syncthreads();  // every warpgroup's MMAs are done with the ring
        if (threadIdx.x == 0) tot[BN] = 0.0f;
        __syncthreads();
        if (q == 0 && mine) atomicAdd(tot + BN, (float)mine);  // lanes q = 0 hold each row once
        const auto col_sums = [&](auto f) {
#pragma unroll
            for (int j = 0; j < BN / 8; ++j)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    float t = 0.0f;
#pragma unroll
                    for (int m = 0; m < MW; ++m)
#pragma unroll
                        for (int h = 0; h < 2; ++h)
                            if (ok[m][h]) t += f(val(acc[m][4 * j + 2 * h + e]), j, e);
#pragma unroll
                    for (int off = 4; off < 32; off <<= 1) t += __shfl_xor_sync(0xffffffffu, t, off);
                    if (lane < 4) red[warp * BN + 8 * j + 2 * q + e] = t;
                }
            __syncthreads();
            for (int c = threadIdx.x; c < BN; c += 256) {
                float t = 0.0f;
#pragma unroll
                for (int w = 0; w < 8; ++w) t += red[w * BN + c];
                tot[c] = t;
            }
            __syncthreads();
        };
        const int tile = (int)(blockIdx.z * gridDim.y + blockIdx.y), col0 = blockIdx.x * BN;
        col_sums([](float v, int, int) { return v; });
        const float cnt = tot[BN];
        for (int c = threadIdx.x; c < BN; c += 256)
            if (col0 + c < N) hsum[(long long)tile * N + col0 + c] = tot[c];
        if (blockIdx.x == 0 && threadIdx.x == 0) hcnt[tile] = cnt;
        float mean[BN / 8][2];
#pragma unroll
        for (int j = 0; j < BN / 8; ++j)
#pragma unroll
            for (int e = 0; e < 2; ++e) mean[j][e] = cnt > 0.0f ? tot[8 * j + 2 * q + e] / cnt : 0.0f;
        __syncthreads();  // tot read above before col_sums rewrites it
        col_sums([&](float v, int j, int e) {
            const float dv = v - mean[j][e];
            return dv * dv;
        });
        for (int c = threadIdx.x; c < BN; c += 256)
            if (col0 + c < N) hm2[(long long)tile * N + col0 + c] = tot[c];
    }
};

template <int BN, class T, int MW>
__device__ __forceinline__ void conv_fwd_halo_v7(float* y, const T* x, const T* w, ConvDims d, float* hsum,
                                                 float* hm2, float* hcnt) {
    constexpr int BK = 128 / (int)sizeof(T);
    const C7Halo<T, MW> g(d.n, d.h, d.w, d.c);
    if ((int)blockIdx.y * C7_BM * MW >= g.Mv) return;  // the whole block
    const C7BRows<BN, BK, T> b(w, d.o, 9 * d.c, blockIdx.x * BN);
    if (hsum) c7_halo_gemm<BN, BK, 4, false, T, MW>(g, x, b, C7HaloStats<BN, T, MW>{g, y, hsum, hm2, hcnt, d.o, d.out16 != 0});
    else c7_halo_gemm<BN, BK, 4, false, T, MW>(g, x, b, C7HaloOut<BN, T, MW>{g, y, d.o, false, d.out16 != 0});
}
template <int BN, class T, int MW>
__device__ __forceinline__ void conv_bwd_input_halo_v7(float* gx, const T* gy, const T* wt, ConvDims d) {
    constexpr int BK = 128 / (int)sizeof(T);
    if (d.out16 && d.add) __trap();
    const C7Halo<T, MW> g(d.n, d.h, d.w, d.o);
    if ((int)blockIdx.y * C7_BM * MW >= g.Mv) return;
    const C7BRows<BN, BK, T> b(wt, d.c, 9 * d.o, blockIdx.x * BN);
    c7_halo_gemm<BN, BK, 4, true, T, MW>(g, gy, b, C7HaloOut<BN, T, MW>{g, gx, d.c, d.add != 0, d.out16 != 0});
}

// The halo blocks' statistics combined per view in two launches (one block per view and column group
// looping over ~10^4 tiles would wait out a load latency per tile: about a millisecond at ResNet-18's
// layer 1). Chan's formula in double: M2 = Σ M2_b + n_b (mean_b - mean)².
// Σ sum, Σ n and then Σ (m2 + n (sum / n - mean)²) over items [i0, i1) of `stride` columns at column c,
// reduced over the block's 8 rows (block (32, 8)); every thread gets the totals.
template <class S>
__device__ __forceinline__ void halo_chan(double& ts, double& tn, double& tm2, const S* sum, const S* m2,
                                          const S* cnt, long long i0, long long i1, int N, int c) {
    __shared__ double sh[3][8][32];
    const int ty = threadIdx.y, tx = threadIdx.x;
    double s = 0.0, n = 0.0;
    if (c < N)
        for (long long i = i0 + ty; i < i1; i += 8) {
            s += (double)sum[i * N + c];
            n += (double)cnt[i];
        }
    sh[0][ty][tx] = s;
    sh[1][ty][tx] = n;
    __syncthreads();
    s = 0.0;
    n = 0.0;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        s += sh[0][k][tx];
        n += sh[1][k][tx];
    }
    const double mean = n > 0.0 ? s / n : 0.0;
    double q = 0.0;
    if (c < N)
        for (long long i = i0 + ty; i < i1; i += 8) {
            const double nb = (double)cnt[i];
            if (nb <= 0.0) continue;
            const double dm = (double)sum[i * N + c] / nb - mean;
            q += (double)m2[i * N + c] + nb * dm * dm;
        }
    sh[2][ty][tx] = q;
    __syncthreads();
    q = 0.0;
#pragma unroll
    for (int k = 0; k < 8; ++k) q += sh[2][k][tx];
    ts = s;
    tn = n;
    tm2 = q;
}

// Stage 1: chunk blockIdx.z of `per` tiles of view blockIdx.y (tiles of a view consecutive), columns
// blockIdx.x · 32 ..: the chunk's sum, squares about its mean and count, in double, to csum / cm2 [view]
// [chunk][N], ccnt [view][chunk].
extern "C" __global__ void conv_halo_stats_v7_f32(double* csum, double* cm2, double* ccnt, const float* hsum,
                                                  const float* hm2, const float* hcnt, int tiles, int N, int per) {
    const int c = blockIdx.x * 32 + threadIdx.x, z = blockIdx.y, g = blockIdx.z;
    const long long t0 = (long long)z * tiles, i0 = t0 + (long long)g * per;
    const long long i1 = min(t0 + tiles, i0 + per);
    double s, n, q;
    halo_chan(s, n, q, hsum, hm2, hcnt, i0, i1, N, c);
    const long long o = (long long)z * gridDim.z + g;
    if (threadIdx.y == 0 && c < N) {
        csum[o * N + c] = s;
        cm2[o * N + c] = q;
    }
    if (threadIdx.y == 0 && threadIdx.x == 0 && blockIdx.x == 0) ccnt[o] = n;
}

// Stage 2: view blockIdx.y's chunks combined (every block of the view again: a few hundred values), then
// this block's share (blockIdx.z of gridDim.z) of the view's `parts` 128-row partials written, each the view's
// sum and squares divided equally (their combination by batchnorm_parts_chunk_f32 gives the view's totals
// back), the layout of the other pipelines' `_stats` epilogue.
extern "C" __global__ void conv_halo_stats_fin_v7_f32(float* part_sum, float* part_m2, const double* csum,
                                                      const double* cm2, const double* ccnt, int chunks, int N,
                                                      int parts) {
    const int c = blockIdx.x * 32 + threadIdx.x, z = blockIdx.y;
    double s, n, q;
    halo_chan(s, n, q, csum, cm2, ccnt, (long long)z * chunks, (long long)(z + 1) * chunks, N, c);
    if (c >= N) return;
    const float ps = (float)(s / parts), pm = (float)(q / parts);
    for (int b = blockIdx.z * 8 + threadIdx.y; b < parts; b += gridDim.z * 8) {
        part_sum[((long long)z * parts + b) * N + c] = ps;
        part_m2[((long long)z * parts + b) * N + c] = pm;
    }
}

// ---------------------------------------------------------------------------------------- halo grad-weight
// `conv_bwd_weight_v7_bf16_n64_halo_w{16,32}` (2026-11-28, written without a GPU): the stride-1 3 × 3 (pad 1) bf16
// grad-weight with each input row copied once for its nine taps. The pixel-split pipelines gather an im2col
// tile per k-tile, every x pixel nine times, and multiply a 128 × 64 tile per 24 KB copied (about 42 FLOP a
// byte of L2 at ResNet-18's layer 1, where v6's grad-weight took ~0.18 ms of a 512-image batch on an H200,
// v7's 0.33). Here a block owns a 64 (o) × 64 (c) tile of all nine taps: three warpgroups, warpgroup ky the
// taps (ky, 0..2) in three m64n64 accumulators, and walks output rows. Per output row it copies one gy row and
// one zero-padded x row (W + 2 positions; 64 channels as 8 planes of 16-byte chunks, chunk of position p at
// 16 p: the canonical no-swizzle MN-major layout, LBO 128 between groups of 8 pixels, SBO a plane), about
// 290 FLOP a byte. A k-step is 16 pixels of one row (W = 16 or 32), so tap (ky, kx) is the x row of padded
// index oy + ky read from position ox + kx: a 16-byte shift of the descriptor's start, and the shifted
// window never leaves the row. The sum over a block's rows comes in row order, 16 pixels a k-step, so it
// differs from the pixel-split pipelines' in rounding only; blocks add their tiles with atomics (gw zeroed).
//
// The stream of a block: padded x rows t = n (H + 2) + j (j = 0 and H + 1 are zeros) from the first output
// row of its range to the last; step t copies padded row t and, where j >= 2, gy row (n, j - 2), and then
// multiplies output row (n, j - 2) from padded rows j - 2 .. j, copied two steps before, one step before
// and now. Copies run C7GW_AHEAD steps ahead (cp.async groups); MMAs stay in flight one step
// (wgmma.wait_group 1). Before step i's barrier every warpgroup has waited for its MMAs of step i - 2, so
// the pending ones (step i - 1's, then step i's) read x slots of steps i - 3 .. i and gy slots i - 1, i, and
// the copies of step i + AHEAD, issued now, land in slots no MMA of steps i - 1 .. i + AHEAD - 1 reads:
// C7GW_RX = AHEAD + 4 x slots, C7GW_RG = AHEAD + 2 gy slots.
// Adds warpgroup ky's taps (ky, kx) of the 64 × 64 tile at (o0, c0) into gw [o][ky][kx][c]: acc[kx][4 jj +
// 2 h + e] is o = o0 + 16 w + lane / 4 + 8 h, c = c0 + 8 jj + 2 (lane % 4) + e (wgmma.cuh).
__device__ __forceinline__ void c7_gw_halo_add(float* gw, const float (&acc)[3][32], const ConvDims& d, int c0, int o0,
                                               int ky) {
    const int lane = threadIdx.x % 32, w = (threadIdx.x / 32) % 4, K = d.kh * d.kw * d.c;
#pragma unroll
    for (int kx = 0; kx < 3; ++kx)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int o = o0 + 16 * w + lane / 4 + 8 * h;
            float* row = gw + (long long)o * K + (3 * ky + kx) * d.c + c0 + 2 * (lane % 4);
#pragma unroll
            for (int jj = 0; jj < 8; ++jj)
#pragma unroll
                for (int e = 0; e < 2; ++e) atomicAdd(row + 8 * jj + e, acc[kx][4 * jj + 2 * h + e]);
        }
}
// The step loop of the halo grad-weights: the accumulators zeroed and pinned (c7_gemm: C7515), AH steps of
// copies in flight (cp.async groups; empty ones keep the count uniform), one barrier a step once its copies
// have landed; mma(i) issues step i's MMAs (after wgmma.fence) and returns true, or returns false where the
// step completes nothing to multiply, and then every MMA in flight is waited for. So at step i's barrier
// the pending MMAs are step i - 1's alone.
template <int AH, class L, class M>
__device__ __forceinline__ void c7_gw_steps(float (&acc)[3][32], int steps, const L& load, const M& mma) {
#pragma unroll
    for (int k = 0; k < 3; ++k)
#pragma unroll
        for (int e = 0; e < 32; ++e) {
            acc[k][e] = 0.0f;
            asm volatile("" : "+f"(acc[k][e]));
        }
#pragma unroll
    for (int s = 0; s < AH; ++s) {
        if (s < steps) load(s);
        asm volatile("cp.async.commit_group;" ::: "memory");
    }
    for (int i = 0; i < steps; ++i) {
        asm volatile("cp.async.wait_group %0;" ::"n"(AH - 1) : "memory");
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncthreads();
        if (i + AH < steps) load(i + AH);
        asm volatile("cp.async.commit_group;" ::: "memory");
        if (mma(i)) {
            asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
            asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
        } else {
            asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");  // nothing of this step in flight
        }
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    asm volatile("cp.async.wait_group 0;" ::: "memory");
}
#define C7GW_AHEAD 6
#define C7GW_RX (C7GW_AHEAD + 4)
#define C7GW_RG (C7GW_AHEAD + 2)
// KS: k-steps an output row, OW = 16 KS (a runtime count left ptxas moving accumulators between the MMAs:
// C7519). S: the stride, 1 or 2 (`_s2w32`, 2026-11-28: ResNet-18/34's first 3 × 3 of layer 2). At stride 2
// output row oy reads padded x rows 2 oy + ky, so it is multiplied at every second step, and an x slot holds
// its even padded positions first (P / 2), then the odd ones (W / 2 + 1 + P / 2): tap kx of output pixel
// ox, position 2 ox + kx, is then 16 consecutive chunks for 16 consecutive ox again.
template <int KS, int S>
__device__ __forceinline__ void conv_bwd_weight_halo_v7(float* gw, const unsigned short* gy, const unsigned short* x,
                                                        ConvDims d, int rows_per_split) {
    const int H = d.h, W = d.w, C = d.c, O = d.o, OH = d.oh, OW = d.ow;
    const int u0 = blockIdx.z * rows_per_split, u1 = min(d.n * OH, u0 + rows_per_split);
    if (u0 >= u1) return;  // the whole block
    const int c0 = blockIdx.x * 64, o0 = blockIdx.y * 64;
    const int SX = 128 * (W + 2), SG = 128 * OW;  // slot bytes: 8 planes of 16-byte chunks
    extern __shared__ __align__(128) unsigned char c7gw_smem[];
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)(C7GW_RX * SX + C7GW_RG * SG) || OW != 16 * KS || W != S * OW || H != S * OH ||
        d.stride != S || blockDim.x != 384)
        __trap();
    unsigned char* xr = c7gw_smem;
    unsigned char* gr = c7gw_smem + C7GW_RX * SX;
    const auto xpos = [&](int P) { return S == 1 ? P : P % 2 == 0 ? P / 2 : W / 2 + 1 + P / 2; };
    // Positions 0 and W + 1 of every x slot (the padding columns) stay zero; the copies fill 1 .. W.
    for (int i = threadIdx.x; i < C7GW_RX * 16; i += blockDim.x)
        *reinterpret_cast<uint4*>(xr + (i / 16) * SX + ((i / 2) % 8) * 16 * (W + 2) + 16 * xpos((i % 2) * (W + 1))) =
            make_uint4(0u, 0u, 0u, 0u);
    const int n0 = u0 / OH, nl = (u1 - 1) / OH;
    const int t0 = n0 * (H + 2) + S * (u0 - n0 * OH), steps = nl * (H + 2) + S * (u1 - 1 - nl * OH) + 3 - t0;
    // Step i's copies: 8 W chunks of the x row, and where it completes an output row 8 OW of the gy row. A
    // warp takes 16 pixels x 2 adjacent planes (both 16-byte halves of each pixel's 32-byte sector); 8 W is
    // a multiple of 32, so a warp copies x or gy alone.
    const auto load = [&](int i) {
        const int t = t0 + i, n = t / (H + 2), j = t - n * (H + 2), iy = j - 1;
        const bool xin = iy >= 0 && iy < H, gin = j >= 2 && (j - 2) % S == 0;
        const int nx = 8 * W, total = gin ? nx + 8 * OW : nx;
        unsigned char* xs = xr + (i % C7GW_RX) * SX;
        unsigned char* gs = gr + (i % C7GW_RG) * SG;
        for (int f = threadIdx.x; f < total; f += blockDim.x) {
            const bool isg = f >= nx;
            const int ff = isg ? f - nx : f, q = ff % 32, r = ff / 32;
            const int plane = 2 * (r % 4) + q / 16, px = 16 * (r / 4) + q % 16;
            if (isg)
                wg_cp16(gs + plane * 16 * OW + 16 * px,
                        gy + ((((long long)n * OH + (j - 2) / S) * OW + px) * O + o0 + 8 * plane), true);
            else
                wg_cp16(xs + plane * 16 * (W + 2) + 16 * xpos(px + 1),
                        x + ((((long long)n * H + (xin ? iy : 0)) * W + px) * C + c0 + 8 * plane), xin);
        }
    };
    float acc[3][32];
    const int ky = threadIdx.x / 128;
    c7_gw_steps<C7GW_AHEAD>(acc, steps, load, [&](int i) {
        const int t = t0 + i, j = t - (t / (H + 2)) * (H + 2);
        if (i < 2 || j < 2 || (j - 2) % S != 0) return false;  // no output row (n, (j - 2) / S): block-uniform
        const unsigned char* xs = xr + ((i - 2 + ky) % C7GW_RX) * SX;
        const unsigned char* gs = gr + (i % C7GW_RG) * SG;
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int s = 0; s < KS; ++s) {
            const unsigned long long da = wg_desc(gs + 256 * s, 128, 16 * OW);
#pragma unroll
            for (int kx = 0; kx < 3; ++kx) {
                // tap kx of output pixels 16 s .. + 15: padded positions S ox + kx
                const int c = S == 1 ? 16 * s + kx : kx == 1 ? W / 2 + 1 + 16 * s : 16 * s + kx / 2;
                wg_mma<64, true>(acc[kx], da, wg_desc(xs + 16 * c, 128, 16 * (W + 2)));
            }
        }
        return true;
    });
    c7_gw_halo_add(gw, acc, d, c0, o0, ky);
}
// `conv_bwd_weight_v7_bf16_n64_halo_img{8,4}` (2026-11-28, written without a GPU): the same 64 × 64 tile of
// nine taps on three warpgroups for images of 8 × 8 and 4 × 4 pixels, whose rows are shorter than a 16-pixel
// k-step. A step takes G whole images (8 × 8: one, 4 × 4: four; four k-steps either way), copied into one of
// C7GWI_NB buffers: gy as planes of the H W pixels in order (a k-step is 16 consecutive pixels, whatever rows
// they span), and x three times, once per kx, each copy with its rows zero-padded above and below but not
// at the sides: copy kx holds x (oy + ky - 1, ox + kx - 1) at position (oy + ky) W + ox, zeros where ox +
// kx - 1 leaves the row. So tap (ky, kx) of pixel p = oy W + ox is copy kx at position p + ky W: the k-step's
// 16 pixels are 16 consecutive positions again (a shifted descriptor start), the layouts are the row
// kernel's. The three copies of an x chunk are three cp.async of the same 16 bytes through L1 (.ca), one
// read from L2. Buffers: C7GWI_AHEAD steps of copies in flight; pending MMAs are step i - 1's.
#define C7GWI_AHEAD 2
#define C7GWI_NB (C7GWI_AHEAD + 2)
__device__ __forceinline__ void wg_cp16_ca(void* dst, const void* src, bool ok) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;" ::"r"(wg_smem_addr(dst)), "l"(src), "r"(ok ? 16 : 0)
                 : "memory");
}
template <int H, int W, int G>
__device__ __forceinline__ void conv_bwd_weight_halo_img_v7(float* gw, const unsigned short* gy,
                                                            const unsigned short* x, ConvDims d, int groups_per_split) {
    constexpr int HW = H * W, KS = G * HW / 16;
    constexpr int PLX = 16 * (H + 2) * W, XIMG = 24 * PLX;  // an x copy's plane; an image's three copies
    constexpr int PLG = 16 * HW, GIMG = 8 * PLG;               // gy: a plane, an image
    constexpr int BUF = G * (XIMG + GIMG);
    static_assert(HW % 16 == 0, "whole k-steps in each image");
    const int C = d.c, O = d.o, N = d.n;
    const int ngroups = (N + G - 1) / G;
    const int g0 = blockIdx.z * groups_per_split, g1 = min(ngroups, g0 + groups_per_split);
    if (g0 >= g1) return;  // the whole block
    const int c0 = blockIdx.x * 64, o0 = blockIdx.y * 64;
    extern __shared__ __align__(128) unsigned char c7gwi_smem[];
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)(C7GWI_NB * BUF) || d.h != H || d.w != W || blockDim.x != 384) __trap();
    // Never copied, always zero: rows 0 and H + 1 of every x copy, column 0 of copy 0, column W - 1 of copy 2.
    constexpr int ZR = 2 * W, ZC = 2 * H, ZPER = 3 * ZR + ZC;  // zero positions of one image, each 8 planes
    for (int i = threadIdx.x; i < C7GWI_NB * G * ZPER * 8; i += blockDim.x) {
        const int plane = i % 8, z = (i / 8) % ZPER, img = i / (8 * ZPER);
        int kx, pos;
        if (z < 3 * ZR) {
            kx = z / ZR;
            const int r = z % ZR;
            pos = (r < W ? 0 : (H + 1) * W - W) + r;  // row 0: 0 .. W - 1; row H + 1: (H + 1) W ..
        } else {
            const int r = z - 3 * ZR;
            kx = r < H ? 0 : 2;
            pos = (1 + r % H) * W + (kx == 0 ? 0 : W - 1);
        }
        *reinterpret_cast<uint4*>(c7gwi_smem + img * (XIMG + GIMG) + kx * 8 * PLX + plane * PLX + 16 * pos) =
            make_uint4(0u, 0u, 0u, 0u);
    }
    const int steps = g1 - g0;
    // Step i's copies: per image HW pixels x 8 planes of x (each to its two or three copies) and of gy; a
    // warp takes 16 pixels x 2 adjacent planes (HW * 8 is a multiple of 32: a warp copies x or gy alone).
    const auto load = [&](int i) {
        unsigned char* buf = c7gwi_smem + (i % C7GWI_NB) * BUF;
        constexpr int PER = 8 * HW;  // chunks of one image's x (or gy)
        for (int f = threadIdx.x; f < 2 * G * PER; f += blockDim.x) {
            const int img = f / (2 * PER), ff0 = f % (2 * PER);
            const bool isg = ff0 >= PER;
            const int ff = isg ? ff0 - PER : ff0, q = ff % 32, r = ff / 32;
            const int plane = 2 * (r % 4) + q / 16, p = 16 * (r / 4) + q % 16;
            const int n = (g0 + i) * G + img;
            const bool in = n < N;
            const long long src = ((long long)(in ? n : 0) * HW + p);
            unsigned char* ib = buf + img * (XIMG + GIMG);
            if (isg) {
                wg_cp16(ib + XIMG + plane * PLG + 16 * p, gy + src * O + o0 + 8 * plane, in);
            } else {
                const int oy = p / W, ox = p % W;
                const unsigned short* s = x + src * C + c0 + 8 * plane;
#pragma unroll
                for (int kx = 0; kx < 3; ++kx) {
                    const int cx = ox + 1 - kx;  // copy kx holds this pixel at column ox + 1 - kx
                    if (cx >= 0 && cx < W)
                        wg_cp16_ca(ib + kx * 8 * PLX + plane * PLX + 16 * ((oy + 1) * W + cx), s, in);
                }
            }
        }
    };
    float acc[3][32];
    const int ky = threadIdx.x / 128;
    c7_gw_steps<C7GWI_AHEAD>(acc, steps, load, [&](int i) {
        const unsigned char* buf = c7gwi_smem + (i % C7GWI_NB) * BUF;
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int s = 0; s < KS; ++s) {
            const int img = 16 * s / HW, p0 = 16 * s % HW;
            const unsigned char* ib = buf + img * (XIMG + GIMG);
            const unsigned long long da = wg_desc(ib + XIMG + 16 * p0, 128, PLG);
#pragma unroll
            for (int kx = 0; kx < 3; ++kx)
                wg_mma<64, true>(acc[kx], da, wg_desc(ib + kx * 8 * PLX + 16 * (p0 + ky * W), 128, PLX));
        }
        return true;
    });
    c7_gw_halo_add(gw, acc, d, c0, o0, ky);
}


template <class T>
__device__ __forceinline__ void conv_weight_t(T* wt, const T* w, int o, int taps, int c) {
    const long long total = (long long)o * taps * c;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const int oo = (int)(i % o);
        const long long r = i / o;
        const int tap = (int)(r % taps), cc = (int)(r / taps);
        wt[i] = w[((long long)oo * taps + tap) * c + cc];
    }
}
extern "C" __global__ void conv_weight_t_bf16(unsigned short* wt, const unsigned short* w, int o, int taps, int c) {
    conv_weight_t(wt, w, o, taps, c);
}
extern "C" __global__ void conv_weight_t_f32(float* wt, const float* w, int o, int taps, int c) {
    conv_weight_t(wt, w, o, taps, c);
}

// Entry points: bf16 {fwd, bwd_input, bwd_weight, fwd with BN statistics, strided bwd_input} x BN {64, 128} x
// pipeline {k64s4, k32s5}; tf32 (fp32 operands) the same without bwd_weight, pipelines {k32s4, k16s5} (the
// bf16 pipelines' bytes per row and stages); `_m256`: the forward (plain, statistics) and grad-input (plain,
// strided) of both precisions on tiles of 256 rows.
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_k64s4(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v7<64, 64, 4, unsigned short>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_k64s4(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v7<128, 64, 4, unsigned short>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_k32s5(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v7<64, 32, 5, unsigned short>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_k32s5(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v7<128, 32, 5, unsigned short>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n64_k64s4(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_v7<64, 64, 4, unsigned short>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n128_k64s4(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_v7<128, 64, 4, unsigned short>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n64_k32s5(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_v7<64, 32, 5, unsigned short>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n128_k32s5(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_v7<128, 32, 5, unsigned short>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_bf16_n64_k64s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7<64, 64, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_bf16_n128_k64s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7<128, 64, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_bf16_n64_k32s5(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7<64, 32, 5>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_bf16_n128_k32s5(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7<128, 32, 5>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_bf16_n64_k64s4_m256(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7<64, 64, 4, 2>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_bf16_n128_k64s4_m256(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7<128, 64, 4, 2>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_bf16_n64_k32s5_m256(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7<64, 32, 5, 2>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_bf16_n128_k32s5_m256(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7<128, 32, 5, 2>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_k64s4_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v7<64, 64, 4, unsigned short>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_k64s4_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v7<128, 64, 4, unsigned short>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_k32s5_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v7<64, 32, 5, unsigned short>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_k32s5_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v7<128, 32, 5, unsigned short>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n64_k64s4_strided(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_strided_v7<64, 64, 4, unsigned short>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n128_k64s4_strided(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_strided_v7<128, 64, 4, unsigned short>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n64_k32s5_strided(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_strided_v7<64, 32, 5, unsigned short>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n128_k32s5_strided(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_strided_v7<128, 32, 5, unsigned short>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_tf32_n64_rs2(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7_tf32<64>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_tf32_n128_rs2(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7_tf32<128>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_tf32_n64_rs1_m256(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7_tf32<64, 2>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v7_tf32_n128_rs1_m256(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v7_tf32<128, 2>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_k32s4(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v7<64, 32, 4, float>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_k32s4_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v7<64, 32, 4, float>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n64_k32s4(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_v7<64, 32, 4, float>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n64_k32s4_strided(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_strided_v7<64, 32, 4, float>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_k16s5(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v7<64, 16, 5, float>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_k16s5_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v7<64, 16, 5, float>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n64_k16s5(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_v7<64, 16, 5, float>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n64_k16s5_strided(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_strided_v7<64, 16, 5, float>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_k32s4(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v7<128, 32, 4, float>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_k32s4_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v7<128, 32, 4, float>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n128_k32s4(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_v7<128, 32, 4, float>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n128_k32s4_strided(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_strided_v7<128, 32, 4, float>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_k16s5(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v7<128, 16, 5, float>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_k16s5_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v7<128, 16, 5, float>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n128_k16s5(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_v7<128, 16, 5, float>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n128_k16s5_strided(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_strided_v7<128, 16, 5, float>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_k64s4_m256(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v7<64, 64, 4, unsigned short, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_k64s4_m256_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v7<64, 64, 4, unsigned short, 2>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n64_k64s4_m256(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_v7<64, 64, 4, unsigned short, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n64_k64s4_m256_strided(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_strided_v7<64, 64, 4, unsigned short, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_k32s5_m256(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v7<64, 32, 5, unsigned short, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_k32s5_m256_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v7<64, 32, 5, unsigned short, 2>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n64_k32s5_m256(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_v7<64, 32, 5, unsigned short, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n64_k32s5_m256_strided(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_strided_v7<64, 32, 5, unsigned short, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_k64s4_m256(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v7<128, 64, 4, unsigned short, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_k64s4_m256_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v7<128, 64, 4, unsigned short, 2>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n128_k64s4_m256(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_v7<128, 64, 4, unsigned short, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n128_k64s4_m256_strided(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_strided_v7<128, 64, 4, unsigned short, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_k32s5_m256(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v7<128, 32, 5, unsigned short, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_k32s5_m256_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v7<128, 32, 5, unsigned short, 2>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n128_k32s5_m256(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_v7<128, 32, 5, unsigned short, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n128_k32s5_m256_strided(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_strided_v7<128, 32, 5, unsigned short, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_k32s4_m256(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v7<64, 32, 4, float, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_k32s4_m256_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v7<64, 32, 4, float, 2>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n64_k32s4_m256(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_v7<64, 32, 4, float, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n64_k32s4_m256_strided(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_strided_v7<64, 32, 4, float, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_k16s5_m256(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v7<64, 16, 5, float, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_k16s5_m256_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v7<64, 16, 5, float, 2>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n64_k16s5_m256(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_v7<64, 16, 5, float, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n64_k16s5_m256_strided(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_strided_v7<64, 16, 5, float, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_k32s4_m256(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v7<128, 32, 4, float, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_k32s4_m256_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v7<128, 32, 4, float, 2>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n128_k32s4_m256(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_v7<128, 32, 4, float, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n128_k32s4_m256_strided(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_strided_v7<128, 32, 4, float, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_k16s5_m256(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v7<128, 16, 5, float, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_k16s5_m256_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v7<128, 16, 5, float, 2>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n128_k16s5_m256(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_v7<128, 16, 5, float, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n128_k16s5_m256_strided(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_strided_v7<128, 16, 5, float, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_halo(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v7<64, unsigned short, 1>(y, x, w, d, nullptr, nullptr, nullptr); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_halo_stats(float* y, float* hsum, float* hm2, float* hcnt, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v7<64, unsigned short, 1>(y, x, w, d, hsum, hm2, hcnt); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n64_halo(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_halo_v7<64, unsigned short, 1>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_halo_m256(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v7<64, unsigned short, 2>(y, x, w, d, nullptr, nullptr, nullptr); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64_halo_m256_stats(float* y, float* hsum, float* hm2, float* hcnt, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v7<64, unsigned short, 2>(y, x, w, d, hsum, hm2, hcnt); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n64_halo_m256(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_halo_v7<64, unsigned short, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_halo(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v7<128, unsigned short, 1>(y, x, w, d, nullptr, nullptr, nullptr); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_halo_stats(float* y, float* hsum, float* hm2, float* hcnt, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v7<128, unsigned short, 1>(y, x, w, d, hsum, hm2, hcnt); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n128_halo(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_halo_v7<128, unsigned short, 1>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_halo_m256(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v7<128, unsigned short, 2>(y, x, w, d, nullptr, nullptr, nullptr); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128_halo_m256_stats(float* y, float* hsum, float* hm2, float* hcnt, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v7<128, unsigned short, 2>(y, x, w, d, hsum, hm2, hcnt); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_bf16_n128_halo_m256(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) { conv_bwd_input_halo_v7<128, unsigned short, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_halo(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_halo_v7<64, float, 1>(y, x, w, d, nullptr, nullptr, nullptr); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_halo_stats(float* y, float* hsum, float* hm2, float* hcnt, const float* x, const float* w, ConvDims d) { conv_fwd_halo_v7<64, float, 1>(y, x, w, d, hsum, hm2, hcnt); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n64_halo(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_halo_v7<64, float, 1>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_halo_m256(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_halo_v7<64, float, 2>(y, x, w, d, nullptr, nullptr, nullptr); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n64_halo_m256_stats(float* y, float* hsum, float* hm2, float* hcnt, const float* x, const float* w, ConvDims d) { conv_fwd_halo_v7<64, float, 2>(y, x, w, d, hsum, hm2, hcnt); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n64_halo_m256(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_halo_v7<64, float, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_halo(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_halo_v7<128, float, 1>(y, x, w, d, nullptr, nullptr, nullptr); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_halo_stats(float* y, float* hsum, float* hm2, float* hcnt, const float* x, const float* w, ConvDims d) { conv_fwd_halo_v7<128, float, 1>(y, x, w, d, hsum, hm2, hcnt); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n128_halo(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_halo_v7<128, float, 1>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_halo_m256(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_halo_v7<128, float, 2>(y, x, w, d, nullptr, nullptr, nullptr); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_tf32_n128_halo_m256_stats(float* y, float* hsum, float* hm2, float* hcnt, const float* x, const float* w, ConvDims d) { conv_fwd_halo_v7<128, float, 2>(y, x, w, d, hsum, hm2, hcnt); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v7_tf32_n128_halo_m256(float* gx, const float* gy, const float* wt, ConvDims d) { conv_bwd_input_halo_v7<128, float, 2>(gx, gy, wt, d); }
extern "C" __global__ void __launch_bounds__(384, 1) conv_bwd_weight_v7_bf16_n64_halo_w16(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int rows_per_split) { conv_bwd_weight_halo_v7<1, 1>(gw, gy, x, d, rows_per_split); }
extern "C" __global__ void __launch_bounds__(384, 1) conv_bwd_weight_v7_bf16_n64_halo_w32(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int rows_per_split) { conv_bwd_weight_halo_v7<2, 1>(gw, gy, x, d, rows_per_split); }
extern "C" __global__ void __launch_bounds__(384, 1) conv_bwd_weight_v7_bf16_n64_halo_s2w32(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int rows_per_split) { conv_bwd_weight_halo_v7<1, 2>(gw, gy, x, d, rows_per_split); }
extern "C" __global__ void __launch_bounds__(384, 1) conv_bwd_weight_v7_bf16_n64_halo_img8(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int groups_per_split) { conv_bwd_weight_halo_img_v7<8, 8, 1>(gw, gy, x, d, groups_per_split); }
extern "C" __global__ void __launch_bounds__(384, 1) conv_bwd_weight_v7_bf16_n64_halo_img4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int groups_per_split) { conv_bwd_weight_halo_img_v7<4, 4, 4>(gw, gy, x, d, groups_per_split); }
