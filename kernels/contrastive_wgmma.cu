// targets: sm_90a
// BNS loss v5, both forms, on Hopper warpgroup MMA (wgmma.mma_async, sm_90a only): v4's algorithm
// (kernels/contrastive.cu: columns split over blockIdx.y, per-row partial sums, row losses and gradient rows
// added with atomics, the code form's row coefficients finished by bns_code_fin_v4_f32; the paper form's
// rows and columns passes) with wgmma tiles. zb: the normalised
// embeddings as bf16 rows of stride 128, zero-padded beyond d. Two warpgroups (256 threads) own 128 rows per
// block (64 each); column tiles of 64 rows of zb stream through a 3-stage cp.async ring (two tiles of copies
// in flight while the warpgroups work on a third). Both operand tiles
// use the canonical no-swizzle K-major layout of wgmma.cuh with BK = 128 (one row = 16 core-matrix columns:
// LBO 128 bytes, SBO 2048 bytes; k-step s at byte 256 s).
//   forward:  S = zb_own . zb_tile^T (8 k-steps of m64n64k16 per warpgroup), masked e^{s / tau} sums per row;
//   backward: S recomputed, M = e^s (c_a + c_b) in registers, rounded to bf16 A fragments in place (the
//             accumulator layout of two adjacent 8-column blocks is the A layout of one k-step), and
//             g += M . zb_tile with the same shared tile read MN-major: element (k = column j, n = dim) sits
//             where the K-major view puts (j, dim), so the descriptor takes LBO 2048 (next 8 columns) and SBO
//             128 (next 8 dims), k-step s at byte 4096 s (m64n128k16, imm-trans-b = 1).
#include "bns_math.cuh"
#include "common.cuh"
#include "wgmma.cuh"

#define B5_BM 128
#define B5_BN 64
#define B5_D 128
#define B5_SBO (B5_D / 8 * 128)
#define B5_A_BYTES (B5_BM * B5_D * 2)
#define B5_B_BYTES (B5_BN * B5_D * 2)
#define B5_STAGES 3
#define B5_SMEM (B5_A_BYTES + B5_STAGES * B5_B_BYTES)

// Rows r0 .. r0 + R - 1 of zb into the canonical layout at dst: chunk f = (r / 8) * 128 + (k / 8) * 8 + r % 8
// (8 dims of one row) at byte 16 f; rows at or beyond n zero-filled.
template <int R>
__device__ __forceinline__ void b5_load_rows(unsigned char* dst, const unsigned short* zb, int r0, int n) {
#pragma unroll
    for (int i = 0; i < R * (B5_D / 8) / 256; ++i) {
        const int f = threadIdx.x + 256 * i;
        const int r = r0 + (f / 128) * 8 + f % 8, k = ((f / 8) % 16) * 8;
        const bool ok = r < n;
        wg_cp16(dst + 16 * f, ok ? zb + (long long)r * B5_D + k : zb, ok);
    }
}

// S (this warpgroup's 64 own rows x the tile's 64 columns) = own . tile^T; acc[4 j + 2 h + e] at row
// 16 w + g + 8 h, column 8 j + 2 q + e (wgmma.cuh).
__device__ __forceinline__ void b5_s_tile(float (&acc)[32], const unsigned char* own, const unsigned char* tile) {
#pragma unroll
    for (int i = 0; i < 32; ++i) acc[i] = 0.0f;
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
    for (int s = 0; s < B5_D / 16; ++s)
        wg_mma<64>(acc, wg_desc(own + 256 * s, 128, B5_SBO), wg_desc(tile + 256 * s, 128, B5_SBO));
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
}

// The block's own rows (of xb, nx of them) and its column range (rows of yb, ny of them), and this thread's
// two own rows.
struct B5Ctx {
    int nx, ny, r0, c_begin, c_end, ra[2];
};

// Per-column values of a tile in shared memory (two slots, one per ring stage): two ints, two floats.
struct B5Cols {
    int* i0;
    int* i1;
    float* f0;
    float* f1;
};

// Streams the column tiles of the block's range through the ring: `params(b, ok, slot columns, t)` fills
// column t's values (threads t < 64, b = its global index), `body(acc, tile, cols, c0)` runs on each S tile.
template <class P, class F>
__device__ __forceinline__ void b5_sweep(const B5Ctx& cx, const unsigned short* xb, const unsigned short* yb, P params,
                                         F body) {
    extern __shared__ __align__(128) unsigned char b5_smem[];
    __shared__ int I0[B5_STAGES][B5_BN], I1[B5_STAGES][B5_BN];
    __shared__ float F0[B5_STAGES][B5_BN], F1[B5_STAGES][B5_BN];
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)B5_SMEM) __trap();
    unsigned char* own = b5_smem;
    const int wg = threadIdx.x / 128;
    const auto stage = [&](int i) { return b5_smem + B5_A_BYTES + (i % B5_STAGES) * B5_B_BYTES; };
    const auto cols = [&](int i) {
        const int k = i % B5_STAGES;
        return B5Cols{I0[k], I1[k], F0[k], F1[k]};
    };
    const auto fill = [&](int c0, int i) {
        if (threadIdx.x < B5_BN) {
            const int b = c0 + threadIdx.x;
            params(b, b < cx.ny, cols(i), threadIdx.x);
        }
    };
    b5_load_rows<B5_BM>(own, xb, cx.r0, cx.nx);
#pragma unroll
    for (int t = 0; t < B5_STAGES - 1; ++t) {
        const int c = cx.c_begin + t * B5_BN;
        if (c < cx.c_end) {
            b5_load_rows<B5_BN>(stage(t), yb, c, cx.ny);
            fill(c, t);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");  // empty groups keep the count uniform
    }
    int i = 0;
    for (int c0 = cx.c_begin; c0 < cx.c_end; c0 += B5_BN, ++i) {
        asm volatile("cp.async.wait_group %0;" ::"n"(B5_STAGES - 2) : "memory");
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        // Tile i is in for every thread, and every warpgroup is done with tile i - 1, whose stage and
        // column slot the copies below refill.
        __syncthreads();
        const int cn = c0 + (B5_STAGES - 1) * B5_BN;
        if (cn < cx.c_end) {
            b5_load_rows<B5_BN>(stage(i + B5_STAGES - 1), yb, cn, cx.ny);
            fill(cn, i + B5_STAGES - 1);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
        float acc[32];
        b5_s_tile(acc, own + wg * 8 * B5_SBO, stage(i));
        body(acc, stage(i), cols(i), c0);
    }
    asm volatile("cp.async.wait_group 0;" ::: "memory");
}

// g += M . tile (this warpgroup's 64 rows x 128 dims): the coefficient tile in `acc` (S's layout) as bf16 A
// fragments against the column tile read MN-major.
__device__ __forceinline__ void b5_mt_tile(float (&g)[64], const float (&acc)[32], const unsigned char* tile) {
    // Every A register is written before the fence (the ISA wants wgmma.fence between a register write and
    // the MMA reading it; ptxas otherwise injects extra arrives).
    unsigned a[B5_BN / 16][4];
#pragma unroll
    for (int s = 0; s < B5_BN / 16; ++s)
#pragma unroll
        for (int r = 0; r < 4; ++r) a[s][r] = pack_bf16x2(acc[8 * s + 2 * r], acc[8 * s + 2 * r + 1]);
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
    for (int s = 0; s < B5_BN / 16; ++s) wg_mma_rs_n128_bt(g, a[s], wg_desc(tile + 4096 * s, 2048, 128));
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
}

// G[row, k] += scale * g for this thread's own rows below nx, dims k < d (g[4 j + 2 h + e]: row h, dim
// 8 j + 2 q + e).
__device__ __forceinline__ void b5_store_g(float* G, const float (&g)[64], const B5Ctx& cx, int d, float scale) {
    const int q = threadIdx.x % 4;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        if (cx.ra[h] >= cx.nx) continue;
#pragma unroll
        for (int j = 0; j < B5_D / 8; ++j)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const int k = 8 * j + 2 * q + e;
                if (k < d) atomicAdd(&G[(long long)cx.ra[h] * d + k], g[4 * j + 2 * h + e] * scale);
            }
    }
}

// The code form backward's constants of this thread's own rows (0 past nx): label, alpha, beta.
__device__ __forceinline__ void b5_code_own(int (&la)[2], float (&al)[2], float (&be)[2], const B5Ctx& cx,
                                            const int* lab, const float* alpha, const float* beta) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const bool ok = cx.ra[h] < cx.nx;
        la[h] = ok ? lab[cx.ra[h]] : 0;
        al[h] = ok ? alpha[cx.ra[h]] : 0.0f;
        be[h] = ok ? beta[cx.ra[h]] : 0.0f;
    }
}

// The paper form's constants of this thread's own rows: MODE 1 (rows pass) the q row's anchor and its
// label, MODE 2 (columns pass) the label of v_a (anchor -1); label 0 past nx.
template <int MODE>
__device__ __forceinline__ void b5_paper_own(int (&la)[2], int (&an)[2], const B5Ctx& cx, const int* lab,
                                             const int* row_anchor) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const bool ok = cx.ra[h] < cx.nx;
        an[h] = MODE == 1 && ok ? row_anchor[cx.ra[h]] : -1;
        la[h] = !ok ? 0 : MODE == 1 ? lab[an[h]] : lab[cx.ra[h]];
    }
}

// The code form's per-row sums of this thread's own rows, summed over the quad and added into part
// (3 per row: positives, positive count, negatives).
__device__ __forceinline__ void b5_code_sums_store(float* part, float (&ps)[2], float (&pc)[2], float (&ns)[2],
                                                   const B5Ctx& cx) {
    bns_quad_sum(ps);
    bns_quad_sum(pc);
    bns_quad_sum(ns);
#pragma unroll
    for (int h = 0; h < 2; ++h)
        if (threadIdx.x % 4 == 0 && cx.ra[h] < cx.nx) {
            atomicAdd(&part[3 * cx.ra[h]], ps[h]);
            atomicAdd(&part[3 * cx.ra[h] + 1], pc[h]);
            atomicAdd(&part[3 * cx.ra[h] + 2], ns[h]);
        }
}

// The paper form's row losses of this thread's own rows, summed over the quad and added into row_loss.
__device__ __forceinline__ void b5_row_loss_store(float* row_loss, float (&lsum)[2], const B5Ctx& cx) {
    bns_quad_sum(lsum);
#pragma unroll
    for (int h = 0; h < 2; ++h)
        if (threadIdx.x % 4 == 0 && cx.ra[h] < cx.nx) atomicAdd(&row_loss[cx.ra[h]], lsum[h]);
}

// The context of a block that owns rows [r0, r0 + 128) of xb and columns [c_begin, c_end) of yb.
__device__ __forceinline__ B5Ctx b5_ctx_at(int nx, int ny, int r0, int c_begin, int c_end) {
    B5Ctx cx;
    cx.nx = nx;
    cx.ny = ny;
    cx.r0 = r0;
    cx.c_begin = c_begin;
    cx.c_end = c_end;
    const int lane = threadIdx.x % 32, w = (threadIdx.x / 32) % 4, wg = threadIdx.x / 128;
    cx.ra[0] = cx.r0 + 64 * wg + 16 * w + lane / 4;
    cx.ra[1] = cx.ra[0] + 8;
    return cx;
}

// The block's rows (blockIdx.x) and its split of the columns (blockIdx.y, `cols` columns a split).
__device__ __forceinline__ B5Ctx b5_ctx(int nx, int ny, int cols) {
    return b5_ctx_at(nx, ny, blockIdx.x * B5_BM, blockIdx.y * cols, min(ny, (blockIdx.y + 1) * cols));
}

// f(i, h, cj) for each S element of the tile this thread holds: accumulator i = 4 j + 2 h + e, own row
// cx.ra[h], tile column cj = 8 j + 2 q + e (wgmma.cuh).
template <class F>
__device__ __forceinline__ void b5_each(F f) {
    const int q = threadIdx.x % 4;
#pragma unroll
    for (int j = 0; j < B5_BN / 8; ++j)
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
            for (int e = 0; e < 2; ++e) f(4 * j + 2 * h + e, h, 8 * j + 2 * q + e);
}

// part[3 r + {0, 1, 2}] += (sum of e^s over positives, positive count, sum over negatives); part zeroed.
extern "C" __global__ void __launch_bounds__(256, 1) bns_code_fwd_v5_bf16(float* part, const unsigned short* zb,
                                                                          const int* lab, int n, float inv_tau,
                                                                          int cols) {
    const B5Ctx cx = b5_ctx(n, n, cols);
    const int la[2] = {cx.ra[0] < n ? lab[cx.ra[0]] : 0, cx.ra[1] < n ? lab[cx.ra[1]] : 0};
    float ps[2] = {0.0f, 0.0f}, pc[2] = {0.0f, 0.0f}, ns[2] = {0.0f, 0.0f};
    b5_sweep(
        cx, zb, zb, [&](int b, bool ok, B5Cols c, int t) { c.i0[t] = ok ? lab[b] : 0; },
        [&](const float (&acc)[32], const unsigned char*, B5Cols cl, int c0) {
            b5_each([&](int i, int h, int cj) {
                const int b = c0 + cj;
                if (cx.ra[h] < n && b < n && b != cx.ra[h]) {
                    const float ex = __expf(acc[i] * inv_tau);
                    if (cl.i0[cj] == la[h]) {
                        ps[h] += ex;
                        pc[h] += 1.0f;
                    } else {
                        ns[h] += ex;
                    }
                }
            });
                    });
    b5_code_sums_store(part, ps, pc, ns, cx);
}

// gz[row, k] += (1/tau) sum over this block's columns of M_ab zhat_b; gz zeroed, d <= 128.
extern "C" __global__ void __launch_bounds__(256, 1) bns_code_bwd_v5_bf16(float* gz, const float* alpha,
                                                                          const float* beta, const unsigned short* zb,
                                                                          const int* lab, int n, int d, float inv_tau,
                                                                          int cols) {
    const B5Ctx cx = b5_ctx(n, n, cols);
    int la[2];
    float al[2], be[2];
    b5_code_own(la, al, be, cx, lab, alpha, beta);
    float g[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) g[i] = 0.0f;
    b5_sweep(
        cx, zb, zb,
        [&](int b, bool ok, B5Cols c, int t) {
            c.i0[t] = ok ? lab[b] : 0;
            c.f0[t] = ok ? alpha[b] : 0.0f;
            c.f1[t] = ok ? beta[b] : 0.0f;
        },
        [&](float (&acc)[32], const unsigned char* tile, B5Cols cl, int c0) {
            // M = e^s (c_a + c_b), c = alpha on the same label, beta otherwise; 0 on the diagonal, beyond n.
            b5_each([&](int i, int h, int cj) {
                const int b = c0 + cj;
                float m = 0.0f;
                if (cx.ra[h] < n && b < n && b != cx.ra[h]) {
                    const float ex = __expf(acc[i] * inv_tau);
                    m = cl.i0[cj] == la[h] ? ex * (al[h] + cl.f0[cj]) : ex * (be[h] + cl.f1[cj]);
                }
                acc[i] = m;
            });
                       b5_mt_tile(g, acc, tile);
        });
    b5_store_g(gz, g, cx, d, inv_tau);
}

// Paper form (v4's bns_paper_pass on wgmma). MODE 1 (rows): own rows = the gathered q rows (xb = qrb, nx =
// rows), column tiles of v (yb = vb, ny = m); adds gq rows and row losses. MODE 2 (columns): own rows = v
// (xb = vb, nx = m), column tiles of q rows (yb = qrb, ny = rows), the coefficient tile w transposed; adds
// gv. Per (q row r, v column j): s = q_r . v_j / tau, w_rj = -sigmoid(-s) [j = anchor_r] + sigmoid(s)
// [label_j != label of anchor_r]; c (= 1 / rows) is applied at the store. G, row_loss zeroed.
template <int MODE>
__device__ __forceinline__ void bns_paper_v5(float* G, float* row_loss, const unsigned short* xb,
                                             const unsigned short* yb, int nx, int ny, int d, float inv_tau,
                                             const int* lab, const int* row_anchor, float c, int cols) {
    const B5Ctx cx = b5_ctx(nx, ny, cols);
    int la[2], an[2];
    b5_paper_own<MODE>(la, an, cx, lab, row_anchor);
    float g[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) g[i] = 0.0f;
    float lsum[2] = {0.0f, 0.0f};
    b5_sweep(
        cx, xb, yb,
        [&](int b, bool ok, B5Cols cl, int t) {
            if (MODE == 1) {
                cl.i0[t] = ok ? lab[b] : 0;  // label of v_b
            } else {
                const int anb = ok ? row_anchor[b] : 0;
                cl.i1[t] = ok ? anb : -1;  // the q row's anchor
                cl.i0[t] = ok ? lab[anb] : 0;
            }
        },
        [&](float (&acc)[32], const unsigned char* tile, B5Cols cl, int c0) {
            b5_each([&](int i, int h, int cj) {
                        const int b = c0 + cj;
                        float w = 0.0f;
                        if (cx.ra[h] < nx && b < ny) {
                            const float sv = acc[i] * inv_tau;
                            const int vj = MODE == 1 ? b : cx.ra[h];
                            const int anc = MODE == 1 ? an[h] : cl.i1[cj];
                            const int lv = MODE == 1 ? cl.i0[cj] : la[h];  // label of v_j
                            const int lq = MODE == 1 ? la[h] : cl.i0[cj];  // label of the anchor
                            const bool pos = vj == anc, neg = lv != lq;
                            if (pos || neg) {
                                float sp, sm, l1p;
                                bns_sigmoid_pair(sv, sp, sm, l1p);
                                if (pos) {
                                    w -= sm;
                                    if (MODE == 1) lsum[h] += fmaxf(-sv, 0.0f) + l1p;
                                }
                                if (neg) {
                                    w += sp;
                                    if (MODE == 1) lsum[h] += fmaxf(sv, 0.0f) + l1p;
                                }
                            }
                        }
                        acc[i] = w;
            });
            b5_mt_tile(g, acc, tile);
        });
    if (MODE == 1) b5_row_loss_store(row_loss, lsum, cx);
    b5_store_g(G, g, cx, d, c * inv_tau);
}

// Paper form, rows: gq rows [rows, d] and row_loss [rows] (both zeroed) from the bf16 q rows and v [m, 128].
extern "C" __global__ void __launch_bounds__(256, 1) bns_paper_rows_v5_bf16(float* gqr, float* row_loss,
                                                                            const unsigned short* qrb,
                                                                            const unsigned short* vb, const int* lab,
                                                                            const int* row_anchor, int rows, int m,
                                                                            int d, float inv_tau, float c, int cols) {
    bns_paper_v5<1>(gqr, row_loss, qrb, vb, rows, m, d, inv_tau, lab, row_anchor, c, cols);
}

// Paper form, columns: gv [m, d] (zeroed).
extern "C" __global__ void __launch_bounds__(256, 1) bns_paper_cols_v5_bf16(float* gv, const unsigned short* vb,
                                                                            const unsigned short* qrb, const int* lab,
                                                                            const int* row_anchor, int rows, int m,
                                                                            int d, float inv_tau, float c, int cols) {
    bns_paper_v5<2>(gv, nullptr, vb, qrb, m, rows, d, inv_tau, lab, row_anchor, c, cols);
}

// ---------------------------------------------------------------------------------------------------- v6
// v5 waits for each wgmma right after issuing it, so the tensor cores idle while the threads exponentiate
// and the threads idle while the tensor cores multiply. v6 issues tile i + 1's S before the per-element
// work on tile i (two accumulator sets; the loop is unrolled by two so that both stay in registers). The
// product g += M . tile still drains before the next step's work: leaving it in flight behind the next S
// (wait_group 1) makes the A fragments of M(i + 1) registers written while the same accumulator chain is
// in flight, and ptxas then serialises every wgmma of the kernel (C7513). A ring of 4 tiles keeps the
// copies two tiles ahead. Tiles whose rows and columns are all in range (and, for the code form, off the
// diagonal) skip the per-element bounds tests, and the column values are read as pairs. The code form's
// exponentials are bns_exp2 of s times log2(e) / tau (a multiply and one MUFU instruction; __expf took six),
// and the gradient rows are added as float2 pairs (b6_store_g).

// Keeps the registers of `r` live and unmoved at this point: after a wgmma.wait_group, so that no read of
// an accumulator is hoisted above the wait and no register-A fragment is reused before it.
template <int N>
__device__ __forceinline__ void b6_keep(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void b6_keep(unsigned (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i])::"memory");
}

// Issues S = own . tile^T into acc as one wgmma group (the first k-step overwrites acc); not waited for.
__device__ __forceinline__ void b6_s_issue(float (&acc)[32], const unsigned char* own, const unsigned char* tile) {
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
    wg_mma_set<64>(acc, wg_desc(own, 128, B5_SBO), wg_desc(tile, 128, B5_SBO));
#pragma unroll
    for (int s = 1; s < B5_D / 16; ++s)
        wg_mma<64>(acc, wg_desc(own + 256 * s, 128, B5_SBO), wg_desc(tile + 256 * s, 128, B5_SBO));
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
}

// Issues g += M . tile (v5's b5_mt_tile) with M in the bf16 A fragments `a` (a[2 j + h] holds the
// elements 4 j + 2 h and 4 j + 2 h + 1 of S's accumulator layout); not waited for.
__device__ __forceinline__ void b6_mt_issue(float (&g)[64], const unsigned (&a)[16], const unsigned char* tile) {
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
    for (int s = 0; s < B5_BN / 16; ++s) {
        const unsigned as[4] = {a[4 * s], a[4 * s + 1], a[4 * s + 2], a[4 * s + 3]};
        wg_mma_rs_n128_bt(g, as, wg_desc(tile + 4096 * s, 2048, 128));
    }
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
}

#define B6_STAGES 4
#define B6_SMEM (B5_A_BYTES + B6_STAGES * B5_B_BYTES)

// The pipelined sweep over the block's column tiles through a ring of B6_STAGES. `params(b, ok, slot, t)`
// fills column t's values (threads t < 64), `coef(acc, slot, c0, a)` works on the S tile of columns
// c0 .. c0 + 63 (and, with MT, writes the coefficients M that g += M . tile takes into the A fragments a:
// not into acc, whose registers are a wgmma accumulator, which ptxas would then serialise, C7515). g is
// complete on return.
template <bool MT, class P, class F>
__device__ __forceinline__ void b6_sweep(const B5Ctx& cx, const unsigned short* xb, const unsigned short* yb,
                                         float (&g)[64], P params, F coef) {
    constexpr int STAGES = B6_STAGES;
    extern __shared__ __align__(128) unsigned char b6_smem[];
    __shared__ __align__(16) int I0[STAGES][B5_BN];
    __shared__ __align__(16) int I1[STAGES][B5_BN];
    __shared__ __align__(16) float F0[STAGES][B5_BN];
    __shared__ __align__(16) float F1[STAGES][B5_BN];
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)B6_SMEM) __trap();
    const unsigned char* own = b6_smem + (threadIdx.x / 128) * 8 * B5_SBO;
    const auto stage = [&](int i) { return b6_smem + B5_A_BYTES + (i % STAGES) * B5_B_BYTES; };
    const auto cols = [&](int i) {
        const int k = i % STAGES;
        return B5Cols{I0[k], I1[k], F0[k], F1[k]};
    };
    const int T = cx.c_end > cx.c_begin ? (cx.c_end - cx.c_begin + B5_BN - 1) / B5_BN : 0;
    const auto load = [&](int t) {  // tile t's rows and column values, one commit group (empty beyond T)
        if (t < T) {
            const int c = cx.c_begin + t * B5_BN;
            b5_load_rows<B5_BN>(stage(t), yb, c, cx.ny);
            if (threadIdx.x < B5_BN) params(c + threadIdx.x, c + (int)threadIdx.x < cx.ny, cols(t), threadIdx.x);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
    };
    b5_load_rows<B5_BM>(b6_smem, xb, cx.r0, cx.nx);
#pragma unroll
    for (int t = 0; t < STAGES - 1; ++t) load(t);  // the own rows join tile 0's group
    asm volatile("cp.async.wait_group %0;" ::"n"(STAGES - 2) : "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    __syncthreads();
    float acc0[32], acc1[32];
    unsigned a[16];
    // g's zeroing stays here, before the first wgmma: sunk into the loop's preheader (as the compiler
    // does), it would define a wgmma accumulator while S(0) is in flight and ptxas would serialise (C7515).
    if (MT) b6_keep(g);
    if (T > 0) b6_s_issue(acc0, own, stage(0));
    // Step i: S(i) in flight into cur (and, with MT, M(i - 1) . tile(i - 1) before it).
    const auto step = [&](int i, float (&cur)[32], float (&nxt)[32]) {
        asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
        b6_keep(cur);
        if (MT) b6_keep(a);
        // Tile i + 1 is in for every thread, and every warpgroup is done with tile i - 1, whose stage and
        // column slot take tile i + STAGES - 1.
        asm volatile("cp.async.wait_group %0;" ::"n"(STAGES - 3) : "memory");
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncthreads();
        if (i + 1 < T) b6_s_issue(nxt, own, stage(i + 1));
        load(i + STAGES - 1);
        coef(cur, cols(i), cx.c_begin + i * B5_BN, a);
        if (MT) b6_mt_issue(g, a, stage(i));
    };
    for (int i = 0; i < T; i += 2) {
        step(i, acc0, acc1);
        if (i + 1 < T) step(i + 1, acc1, acc0);
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    if (MT) {
        b6_keep(g);
        b6_keep(a);
    }
    asm volatile("cp.async.wait_group 0;" ::: "memory");
}

// Whether the tile's 64 columns from c0 are all in range (and, with `diag`, off this warpgroup's rows): the
// per-element tests can be skipped. Own rows beyond nx need no test: their sums and gradient rows are
// never stored.
__device__ __forceinline__ bool b6_plain(const B5Ctx& cx, int c0, bool diag) {
    const int w0 = cx.r0 + 64 * (threadIdx.x / 128);
    return c0 + B5_BN <= cx.ny && (!diag || c0 >= w0 + 64 || c0 + B5_BN <= w0);
}

// f(i, h, cj, e) for each S element of the tile this thread holds, the columns' values read as pairs:
// `pair(cj0)` loads the values of columns cj0 and cj0 + 1 (cj0 = 8 j + 2 q) once for the four elements.
template <class L, class F>
__device__ __forceinline__ void b6_each(L pair, F f) {
    const int q = threadIdx.x % 4;
#pragma unroll
    for (int j = 0; j < B5_BN / 8; ++j) {
        const auto v = pair(8 * j + 2 * q);
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
            for (int e = 0; e < 2; ++e) f(4 * j + 2 * h + e, h, 8 * j + 2 * q + e, e, v);
    }
}

// The code form forward's row sums over the S tile of columns c0 .. c0 + 63 (labels in cl.i0): e^(s / tau) of
// the positives, their count and e^(s / tau) of the negatives of this thread's two own rows (k2 = log2(e) /
// tau).
__device__ __forceinline__ void b6_code_row_sums(float (&ps)[2], float (&pc)[2], float (&ns)[2], const float (&acc)[32],
                                                 B5Cols cl, int c0, const B5Ctx& cx, const int (&la)[2],
                                                 float k2) {
    const int n = cx.ny;
    const auto labs = [&](int cj) { return *reinterpret_cast<const int2*>(cl.i0 + cj); };
    const auto add = [&](int i, int h, bool same) {
        const float ex = bns_exp2(acc[i] * k2);
        ps[h] += same ? ex : 0.0f;
        pc[h] += same ? 1.0f : 0.0f;
        ns[h] += same ? 0.0f : ex;
    };
    if (b6_plain(cx, c0, true)) {
        b6_each(labs, [&](int i, int h, int, int e, int2 l) { add(i, h, (e ? l.y : l.x) == la[h]); });
    } else {
        b6_each(labs, [&](int i, int h, int cj, int e, int2 l) {
            const int b = c0 + cj;
            if (cx.ra[h] < n && b < n && b != cx.ra[h]) add(i, h, (e ? l.y : l.x) == la[h]);
        });
    }
}

// b5_store_g with a thread's two adjacent dims (8 j + 2 q and the next) added by one float2 atomic (sm_90,
// half the atomics of the block's final flush) where d is even: a pair then sits in one row, 8-byte aligned.
__device__ __forceinline__ void b6_store_g(float* G, const float (&g)[64], const B5Ctx& cx, int d, float scale) {
    if (d % 2) {
        b5_store_g(G, g, cx, d, scale);
        return;
    }
    const int q = threadIdx.x % 4;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        if (cx.ra[h] >= cx.nx) continue;
#pragma unroll
        for (int j = 0; j < B5_D / 8; ++j) {
            const int k = 8 * j + 2 * q;
            if (k < d)
                atomicAdd(reinterpret_cast<float2*>(&G[(long long)cx.ra[h] * d + k]),
                          make_float2(g[4 * j + 2 * h] * scale, g[4 * j + 2 * h + 1] * scale));
        }
    }
}

// Code form forward, as bns_code_fwd_v5_bf16 (exponentials by bns_exp2).
extern "C" __global__ void __launch_bounds__(256, 2) bns_code_fwd_v6_bf16(float* part, const unsigned short* zb,
                                                                          const int* lab, int n, float inv_tau,
                                                                          int cols) {
    const B5Ctx cx = b5_ctx(n, n, cols);
    const float k2 = inv_tau * BNS_LOG2E;
    const int la[2] = {cx.ra[0] < n ? lab[cx.ra[0]] : 0, cx.ra[1] < n ? lab[cx.ra[1]] : 0};
    float ps[2] = {0.0f, 0.0f}, pc[2] = {0.0f, 0.0f}, ns[2] = {0.0f, 0.0f};
    float g[64];  // unused without the product
    b6_sweep<false>(
        cx, zb, zb, g, [&](int b, bool ok, B5Cols c, int t) { c.i0[t] = ok ? lab[b] : 0; },
        [&](float (&acc)[32], B5Cols cl, int c0, unsigned (&)[16]) {
            b6_code_row_sums(ps, pc, ns, acc, cl, c0, cx, la, k2);
        });
    b5_code_sums_store(part, ps, pc, ns, cx);
}

// The coefficients M of the tile this thread holds, rounded into the A fragments: a[2 j + h] =
// bf16 (m(i), m(i + 1)) for i = 4 j + 2 h, with m(i, h, cj, e, v) as in b6_each.
template <class L, class F>
__device__ __forceinline__ void b6_each_m(unsigned (&a)[16], L pair, F m) {
    const int q = threadIdx.x % 4;
#pragma unroll
    for (int j = 0; j < B5_BN / 8; ++j) {
        const auto v = pair(8 * j + 2 * q);
#pragma unroll
        for (int h = 0; h < 2; ++h)
            a[2 * j + h] = pack_bf16x2(m(4 * j + 2 * h, h, 8 * j + 2 * q, 0, v), m(4 * j + 2 * h + 1, h, 8 * j + 2 * q + 1, 1, v));
    }
}

// The values of columns cj and cj + 1 the code form's backward needs: labels, alpha, beta.
struct B6CodeCols {
    int2 lab;
    float2 al, be;
};

// Code form backward, as bns_code_bwd_v5_bf16 (exponentials by bns_exp2).
extern "C" __global__ void __launch_bounds__(256, 1) bns_code_bwd_v6_bf16(float* gz, const float* alpha,
                                                                          const float* beta, const unsigned short* zb,
                                                                          const int* lab, int n, int d, float inv_tau,
                                                                          int cols) {
    const B5Ctx cx = b5_ctx(n, n, cols);
    const float k2 = inv_tau * BNS_LOG2E;
    int la[2];
    float al[2], be[2];
    b5_code_own(la, al, be, cx, lab, alpha, beta);
    float g[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) g[i] = 0.0f;
    b6_sweep<true>(
        cx, zb, zb, g,
        [&](int b, bool ok, B5Cols c, int t) {
            c.i0[t] = ok ? lab[b] : 0;
            c.f0[t] = ok ? alpha[b] : 0.0f;
            c.f1[t] = ok ? beta[b] : 0.0f;
        },
        [&](float (&acc)[32], B5Cols cl, int c0, unsigned (&a)[16]) {
            // M = e^s (c_a + c_b), c = alpha on the same label, beta otherwise; 0 on the diagonal, beyond n.
            const auto vals = [&](int cj) {
                return B6CodeCols{*reinterpret_cast<const int2*>(cl.i0 + cj),
                                  *reinterpret_cast<const float2*>(cl.f0 + cj),
                                  *reinterpret_cast<const float2*>(cl.f1 + cj)};
            };
            const auto m = [&](int i, int h, int e, const B6CodeCols& v) {
                const float ex = bns_exp2(acc[i] * k2);
                return (e ? v.lab.y : v.lab.x) == la[h] ? ex * (al[h] + (e ? v.al.y : v.al.x))
                                                        : ex * (be[h] + (e ? v.be.y : v.be.x));
            };
            if (b6_plain(cx, c0, true)) {
                b6_each_m(a, vals, [&](int i, int h, int, int e, const B6CodeCols& v) { return m(i, h, e, v); });
            } else {
                b6_each_m(a, vals, [&](int i, int h, int cj, int e, const B6CodeCols& v) {
                    const int b = c0 + cj;
                    return cx.ra[h] < n && b < n && b != cx.ra[h] ? m(i, h, e, v) : 0.0f;
                });
            }
        });
    b6_store_g(gz, g, cx, d, inv_tau);
}

// The values of columns cj and cj + 1 the paper form needs (MODE 1: labels of v; MODE 2: the q rows'
// anchors and their labels).
struct B6PaperCols {
    int2 i0, i1;
};

// Paper form (bns_paper_v5 pipelined). The row loss takes log(1 + e) as log2(1 + e) ln 2 by one MUFU
// instruction (e = exp(-|s|) in (0, 1], by bns_exp2: absolute error below 1e-6 per term) instead of
// log1pf, which costs tens of instructions a term.
template <int MODE>
__device__ __forceinline__ void bns_paper_v6(float* G, float* row_loss, const unsigned short* xb,
                                             const unsigned short* yb, int nx, int ny, int d, float inv_tau,
                                             const int* lab, const int* row_anchor, float c, int cols) {
    const B5Ctx cx = b5_ctx(nx, ny, cols);
    const float k2 = inv_tau * BNS_LOG2E;
    int la[2], an[2];
    b5_paper_own<MODE>(la, an, cx, lab, row_anchor);
    float g[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) g[i] = 0.0f;
    float lsum[2] = {0.0f, 0.0f};
    b6_sweep<true>(
        cx, xb, yb, g,
        [&](int b, bool ok, B5Cols cl, int t) {
            if (MODE == 1) {
                cl.i0[t] = ok ? lab[b] : 0;  // label of v_b
            } else {
                const int anb = ok ? row_anchor[b] : 0;
                cl.i1[t] = ok ? anb : -1;  // the q row's anchor
                cl.i0[t] = ok ? lab[anb] : 0;
            }
        },
        [&](float (&acc)[32], B5Cols cl, int c0, unsigned (&a)[16]) {
            const auto vals = [&](int cj) {
                B6PaperCols v;
                v.i0 = *reinterpret_cast<const int2*>(cl.i0 + cj);
                v.i1 = MODE == 2 ? *reinterpret_cast<const int2*>(cl.i1 + cj) : make_int2(0, 0);
                return v;
            };
            const auto w = [&](int i, int h, int b, int e, const B6PaperCols& v) {
                const float sv = acc[i] * inv_tau, s2 = acc[i] * k2;
                const int vj = MODE == 1 ? b : cx.ra[h];
                const int anc = MODE == 1 ? an[h] : (e ? v.i1.y : v.i1.x);
                const int lv = MODE == 1 ? (e ? v.i0.y : v.i0.x) : la[h];  // label of v_j
                const int lq = MODE == 1 ? la[h] : (e ? v.i0.y : v.i0.x);  // label of the anchor
                const bool pos = vj == anc, neg = lv != lq;
                float wv = 0.0f;
                if (pos || neg) {
                    const float ex = bns_exp2(-fabsf(s2));
                    const float r = __fdividef(1.0f, 1.0f + ex);
                    const float sp = sv >= 0.0f ? r : ex * r, sm = sv >= 0.0f ? ex * r : r;
                    if (pos) wv -= sm;
                    if (neg) wv += sp;
                    if (MODE == 1) {
                        const float l1p = bns_log2(1.0f + ex) * BNS_LN2;
                        if (pos) lsum[h] += fmaxf(-sv, 0.0f) + l1p;
                        if (neg) lsum[h] += fmaxf(sv, 0.0f) + l1p;
                    }
                }
                return wv;
            };
            if (b6_plain(cx, c0, false)) {
                b6_each_m(a, vals, [&](int i, int h, int cj, int e, const B6PaperCols& v) { return w(i, h, c0 + cj, e, v); });
            } else {
                b6_each_m(a, vals, [&](int i, int h, int cj, int e, const B6PaperCols& v) {
                    const int b = c0 + cj;
                    return cx.ra[h] < nx && b < ny ? w(i, h, b, e, v) : 0.0f;
                });
            }
        });
    if (MODE == 1) b5_row_loss_store(row_loss, lsum, cx);
    b6_store_g(G, g, cx, d, c * inv_tau);
}

// Paper form, rows (as bns_paper_rows_v5_bf16).
extern "C" __global__ void __launch_bounds__(256, 1) bns_paper_rows_v6_bf16(float* gqr, float* row_loss,
                                                                            const unsigned short* qrb,
                                                                            const unsigned short* vb, const int* lab,
                                                                            const int* row_anchor, int rows, int m,
                                                                            int d, float inv_tau, float c, int cols) {
    bns_paper_v6<1>(gqr, row_loss, qrb, vb, rows, m, d, inv_tau, lab, row_anchor, c, cols);
}

// Paper form, columns (as bns_paper_cols_v5_bf16).
extern "C" __global__ void __launch_bounds__(256, 1) bns_paper_cols_v6_bf16(float* gv, const unsigned short* vb,
                                                                            const unsigned short* qrb, const int* lab,
                                                                            const int* row_anchor, int rows, int m,
                                                                            int d, float inv_tau, float c, int cols) {
    bns_paper_v6<2>(gv, nullptr, vb, qrb, m, rows, d, inv_tau, lab, row_anchor, c, cols);
}

// ---------------------------------------------------------------------------------------------------- v7
// The code form's forward over one triangle of the similarity. s_ab = s_ba, and b is a positive of a exactly
// when a is one of b (same label), so the tile of own rows I and columns J also gives J's sums over I's rows.
// A block of row block I sweeps the columns from I's first row on: its two diagonal tiles (columns inside
// I) add row sums only, as v6; every later tile adds row sums and column sums (each column's positives,
// positive count and negatives over I's 128 rows). Row a thus gets the columns from its block's first row on
// from its own block and the columns before from the earlier blocks' column sums: every ordered pair once,
// with half v6's exponentials and similarity MMAs. The blocks form a 1-D list of items (b7_item: a row
// block and a chunk of `per` of its column tiles), which cuts the triangle's uneven rows into equal work.
// The backward stays v6's: its products g += M . tile would need a per-tile flush of the column rows.
//
// Column sums: a thread's elements summed over its two rows, then over the warp's 8 row lanes by a
// reduce-scatter butterfly (lanes 16 apart split a column pair, 8 apart the column blocks j and j + 4, 4
// apart j and j + 2: 14 shuffles a quantity, leaving 2 columns a lane), stored in the warp's slot of a
// shared array that alternates between tiles. After the barrier that opens the next tile (the last tile:
// after the sweep), 192 threads add up the 8 warps' slots and add each column's three sums into part.

// This block's item: the row block's first row r0 and its columns [c_begin, c_end); false past the list.
__device__ __forceinline__ bool b7_item(int n, int per, int& r0, int& c_begin, int& c_end) {
    int idx = blockIdx.x;
    for (int r = 0; r < n; r += B5_BM) {
        const int tiles = (n - r + B5_BN - 1) / B5_BN, items = (tiles + per - 1) / per;
        if (idx < items) {
            r0 = r;
            c_begin = r + idx * per * B5_BN;
            c_end = min(n, c_begin + per * B5_BN);
            return true;
        }
        idx -= items;
    }
    return false;
}

// Butterfly stage 1: lanes 16 apart split the column pair (v0: column 8 j + 2 q, v1: 8 j + 2 q + 1); the
// lane keeps e = bit 4 of its index, summed over both lanes.
__device__ __forceinline__ float b7_pair(float v0, float v1) {
    const bool hi = threadIdx.x & 16;
    return (hi ? v1 : v0) + __shfl_xor_sync(0xffffffffu, hi ? v0 : v1, 16);
}

// Stages 2 and 3 over w[j] (column 8 j + 2 q + e): y[m] is the warp's sum of column 8 (j0 + m) + 2 q + e,
// j0 = 4 (bit 3 of the lane) + 2 (bit 2).
__device__ __forceinline__ void b7_cols(float (&y)[2], const float (&w)[8]) {
    const bool h2 = threadIdx.x & 8, h3 = threadIdx.x & 4;
    float x[4];
#pragma unroll
    for (int m = 0; m < 4; ++m)
        x[m] = (h2 ? w[m + 4] : w[m]) + __shfl_xor_sync(0xffffffffu, h2 ? w[m] : w[m + 4], 8);
#pragma unroll
    for (int m = 0; m < 2; ++m)
        y[m] = (h3 ? x[m + 2] : x[m]) + __shfl_xor_sync(0xffffffffu, h3 ? x[m] : x[m + 2], 4);
}

// part[3 r + {0, 1, 2}] += (sum of e^s over positives, positive count, sum over negatives), over the
// triangle; part zeroed. Grid: the items of b7_item for `per` tiles an item.
extern "C" __global__ void __launch_bounds__(256, 2) bns_code_fwd_v7_bf16(float* part, const unsigned short* zb,
                                                                          const int* lab, int n, float inv_tau,
                                                                          int per) {
    __shared__ float slot[2][8][3][B5_BN];  // [tile % 2][warp][quantity][column]
    int r0, c_begin, c_end;
    if (!b7_item(n, per, r0, c_begin, c_end)) return;
    const B5Ctx cx = b5_ctx_at(n, n, r0, c_begin, c_end);
    const float k2 = inv_tau * BNS_LOG2E;
    const int la[2] = {cx.ra[0] < n ? lab[cx.ra[0]] : 0, cx.ra[1] < n ? lab[cx.ra[1]] : 0};
    float ps[2] = {0.0f, 0.0f}, pc[2] = {0.0f, 0.0f}, ns[2] = {0.0f, 0.0f};
    const int q = threadIdx.x % 4, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int e1 = (lane >> 4) & 1, j0 = 4 * ((lane >> 3) & 1) + 2 * ((lane >> 2) & 1);
    // Adds the column sums of tile t (no diagonal tile has any) into part.
    const auto flush = [&](int t) {
        const int c0 = c_begin + t * B5_BN;
        if (c0 < r0 + B5_BM || threadIdx.x >= 3 * B5_BN) return;
        const int k = threadIdx.x / B5_BN, c = threadIdx.x % B5_BN;
        float s = 0.0f;
#pragma unroll
        for (int w = 0; w < 8; ++w) s += slot[t % 2][w][k][c];
        if (c0 + c < n && s != 0.0f) atomicAdd(&part[3 * (c0 + c) + k], s);
    };
    float g[64];  // unused without the product
    b6_sweep<false>(
        cx, zb, zb, g, [&](int b, bool ok, B5Cols c, int t) { c.i0[t] = ok ? lab[b] : 0; },
        [&](float (&acc)[32], B5Cols cl, int c0, unsigned (&)[16]) {
            const int t = (c0 - c_begin) / B5_BN;
            if (t > 0) flush(t - 1);
            if (c0 < r0 + B5_BM) {
                b6_code_row_sums(ps, pc, ns, acc, cl, c0, cx, la, k2);
                return;
            }
            // Columns beyond the own block: no diagonal element; rows and columns in range unless the tile
            // passes n (the own rows are: a later tile exists only where r0 + 128 < n).
            const bool plain = c0 + B5_BN <= n;
            float wp[8], wc[8], wn[8];
#pragma unroll
            for (int j = 0; j < B5_BN / 8; ++j) {
                const int2 l = *reinterpret_cast<const int2*>(cl.i0 + 8 * j + 2 * q);
                float vp[2] = {0.0f, 0.0f}, vc[2] = {0.0f, 0.0f}, vn[2] = {0.0f, 0.0f};
#pragma unroll
                for (int h = 0; h < 2; ++h)
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        const bool ok = plain || (cx.ra[h] < n && c0 + 8 * j + 2 * q + e < n);
                        const bool same = (e ? l.y : l.x) == la[h];
                        const float ex = bns_exp2(acc[4 * j + 2 * h + e] * k2);
                        const float ep = ok && same ? ex : 0.0f, en = ok && !same ? ex : 0.0f;
                        const float cp = ok && same ? 1.0f : 0.0f;
                        ps[h] += ep;
                        pc[h] += cp;
                        ns[h] += en;
                        vp[e] += ep;
                        vc[e] += cp;
                        vn[e] += en;
                    }
                wp[j] = b7_pair(vp[0], vp[1]);
                wc[j] = b7_pair(vc[0], vc[1]);
                wn[j] = b7_pair(vn[0], vn[1]);
            }
            float yp[2], yc[2], yn[2];
            b7_cols(yp, wp);
            b7_cols(yc, wc);
            b7_cols(yn, wn);
            float(&sl)[3][B5_BN] = slot[t % 2][warp];
#pragma unroll
            for (int m = 0; m < 2; ++m) {
                const int cj = 8 * (j0 + m) + 2 * q + e1;
                sl[0][cj] = yp[m];
                sl[1][cj] = yc[m];
                sl[2][cj] = yn[m];
            }
        });
    __syncthreads();  // the last tile's slots are written
    flush((c_end - c_begin + B5_BN - 1) / B5_BN - 1);
    b5_code_sums_store(part, ps, pc, ns, cx);
}

// The v5 tile chain without the loss: G = bf16(S) . tile with S = own . tile^T for the 128 own rows of zb
// and one 64-row column tile starting at row c0, through b5_load_rows, b5_s_tile and b5_mt_tile (the
// register-A product against the tile read MN-major) — BNS v5's wgmma path isolated for a test. G [128][128]
// is written (not added) for rows below n; one block, 256 threads, B5_SMEM of dynamic shared memory.
extern "C" __global__ void __launch_bounds__(256, 1) bns_v5_chain_probe(float* G, const unsigned short* zb, int n,
                                                                        int c0) {
    extern __shared__ __align__(128) unsigned char b5p_smem[];
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)B5_SMEM) __trap();
    const B5Ctx cx = b5_ctx(n, n, n);
    unsigned char* tile = b5p_smem + B5_A_BYTES;
    b5_load_rows<B5_BM>(b5p_smem, zb, 0, n);
    b5_load_rows<B5_BN>(tile, zb, c0, n);
    asm volatile("cp.async.commit_group;" ::: "memory");
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    __syncthreads();
    float acc[32], g[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) g[i] = 0.0f;
    b5_s_tile(acc, b5p_smem + (threadIdx.x / 128) * 8 * B5_SBO, tile);
    b5_mt_tile(g, acc, tile);
    const int q = threadIdx.x % 4;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        if (cx.ra[h] >= n) continue;
#pragma unroll
        for (int j = 0; j < B5_D / 8; ++j)
#pragma unroll
            for (int e = 0; e < 2; ++e) G[(long long)cx.ra[h] * B5_D + 8 * j + 2 * q + e] = g[4 * j + 2 * h + e];
    }
}
