// targets: sm_80 sm_90
// BNS contrastive loss (METHOD.md "Stage 1: BNS loss"), both forms, forward and backward. The CPU reference
// is src/loss/bns.rs; the launchers are src/loss/bns_cuda.rs. Numbered versions, as in llm.c's dev/cuda:
//   v1: the N×N similarity (and its gradient) materialised in global memory, naive kernels;
//   v2: fused fp32: similarity tiles recomputed from the normalised embeddings in shared memory, label
//       masks applied on the fly, per-row reductions in registers, never storing N×N (d <= 128);
//   v3: bf16 tensor cores (mma.sync m16n8k16, fp32 accumulation), fused like v2, both forms (sm_80+, d <= 128);
//   v4: v3 with the columns split over blocks (atomics) and ldmatrix.trans in the backward, code form only.
// Code form: z = [z1; z2] (n rows), labels per row; per row a: pos_a = mean_{P(a)} e^s, neg_a = (1/n)
// sum_{N(a)} e^s, loss_a = softplus(-pos_a) [dropped without positives] + softplus(neg_a);
// alpha_a = -sigmoid(-pos_a)/(n |P(a)|), beta_a = sigmoid(neg_a)/n^2 (dL/dE on P and N);
// backward: g_a = (1/tau) sum_b E_ab (c_a + c_b) zhat_b, c = alpha on same label, beta otherwise.
// Paper form: rows r = (q row, anchor); w_rj = c (-sigmoid(-s) [j = anchor] + sigmoid(s) [label_j != label_anchor]);
// gq_r = (1/tau) sum_j w_rj v_j, gv_j = (1/tau) sum_r w_rj q_r.
#include "bns_math.cuh"
#include "common.cuh"

#define BNS_EPS 1e-12f
#define BNS_DMAX 128
#define BNS_T 32        // v2 tile (rows and columns)
#define BNS_LDS 129     // v2 shared row stride (floats), conflict-free
#define BNS_LDB 136     // v3 shared row stride (bf16) of the column tile
#define BNS_LDT 72      // v3 shared row stride (bf16) of the transposed column tile

__device__ __forceinline__ float bns_softplus(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }
__device__ __forceinline__ float bns_sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

// ---------------------------------------------------------------------------------------------------------
// Shared by every version.

// Row r's loss and coefficients from its sums (see the file header).
__device__ __forceinline__ void bns_code_finish(float* alpha, float* beta, float* row_loss, int r, float ps, float pc,
                                                float ns, int n) {
    const float nf = (float)n;
    const float neg = ns / nf;
    float l = bns_softplus(neg);
    beta[r] = bns_sigmoid(neg) / (nf * nf);
    if (pc > 0.0f) {
        const float pos = ps / pc;
        l += bns_softplus(-pos);
        alpha[r] = -bns_sigmoid(-pos) / (nf * pc);
    } else {
        alpha[r] = 0.0f;
    }
    row_loss[r] = l;
}

// One warp per row: zn = z / max(|z|, eps); when zb is not null also a bf16 copy with row stride ldb
// (zero-padded beyond d), for v3.
__device__ __forceinline__ void bns_normalize_row(float* zn, unsigned short* zb, const float* z, long long row, int d,
                                                  int ldb, int lane) {
    const float* x = z + row * d;
    float ss = 0.0f;
    for (int k = lane; k < d; k += IPDPP_WARP) ss += x[k] * x[k];
    ss = warp_sum_f32(ss);
    const float inv = 1.0f / fmaxf(sqrtf(ss), BNS_EPS);
    for (int k = lane; k < d; k += IPDPP_WARP) zn[row * d + k] = x[k] * inv;
    if (zb != nullptr) {
        for (int k = lane; k < ldb; k += IPDPP_WARP) {
            const float v = k < d ? x[k] * inv : 0.0f;
            unsigned short h;
            asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(v));
            zb[row * ldb + k] = h;
        }
    }
}

extern "C" __global__ void bns_normalize_f32(float* zn, unsigned short* zb, const float* z, int n, int d, int ldb) {
    const int lane = threadIdx.x % IPDPP_WARP;
    const long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / IPDPP_WARP;
    if (row >= n) return;
    bns_normalize_row(zn, zb, z, row, d, ldb, lane);
}

// bns_normalize_f32 that also zeroes the row's three partial sums (part) and d gradient values (g), the
// sums BNS v6 adds into with atomics: two memset launches fewer.
extern "C" __global__ void bns_normalize_zero_f32(float* zn, unsigned short* zb, float* part, float* g, const float* z,
                                                  int n, int d, int ldb) {
    const int lane = threadIdx.x % IPDPP_WARP;
    const long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / IPDPP_WARP;
    if (row >= n) return;
    bns_normalize_row(zn, zb, z, row, d, ldb, lane);
    if (lane < 3) part[3 * row + lane] = 0.0f;
    for (int k = lane; k < d; k += IPDPP_WARP) g[row * d + k] = 0.0f;
}

// One warp per row: gx = (g - (g.zhat) zhat) / |z| (g / eps when |z| < eps), zhat recomputed from z.
extern "C" __global__ void bns_norm_bwd_f32(float* gx, const float* g, const float* z, int n, int d) {
    const int lane = threadIdx.x % IPDPP_WARP;
    const long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / IPDPP_WARP;
    if (row >= n) return;
    const float* x = z + row * d;
    const float* gr = g + row * d;
    float ss = 0.0f, gz = 0.0f;
    for (int k = lane; k < d; k += IPDPP_WARP) {
        ss += x[k] * x[k];
        gz += gr[k] * x[k];
    }
    ss = warp_sum_f32(ss);
    gz = warp_sum_f32(gz);
    const float nrm = sqrtf(ss);
    const float inv = 1.0f / fmaxf(nrm, BNS_EPS);
    const float dot = nrm > BNS_EPS ? gz * inv : 0.0f;  // g . zhat
    for (int k = lane; k < d; k += IPDPP_WARP) gx[row * d + k] = (gr[k] - dot * x[k] * inv) * inv;
}

// One block: *loss = scale * sum(v[0..n)). Deterministic.
extern "C" __global__ void bns_loss_sum_f32(float* loss, const float* v, int n, float scale) {
    __shared__ float scratch[IPDPP_WARP];
    float s = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += v[i];
    s = block_sum_f32(s, scratch);
    if (threadIdx.x == 0) *loss = scale * s;
}

// out[r] = in[idx[r]] (rows of d floats): the paper form's q rows.
extern "C" __global__ void bns_gather_rows_f32(float* out, const float* in, const int* idx, int rows, int d) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * d) return;
    const int r = (int)(i / d), k = (int)(i % d);
    out[i] = in[(long long)idx[r] * d + k];
}

// out[idx[r]] += in[r] (out zeroed first): the paper form's q-row gradients back onto the images.
extern "C" __global__ void bns_scatter_add_rows_f32(float* out, const float* in, const int* idx, int rows, int d) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * d) return;
    const int r = (int)(i / d), k = (int)(i % d);
    atomicAdd(&out[(long long)idx[r] * d + k], in[i]);
}

// ---------------------------------------------------------------------------------------------------------
// v1: materialised.

// S[a*m + b] = scale * x_a . y_b  (x: [rows, d], y: [m, d]).
extern "C" __global__ void bns_sim_v1_f32(float* S, const float* x, const float* y, int rows, int m, int d,
                                          float scale) {
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    const int a = blockIdx.y * blockDim.y + threadIdx.y;
    if (a >= rows || b >= m) return;
    float acc = 0.0f;
    for (int k = 0; k < d; ++k) acc += x[(long long)a * d + k] * y[(long long)b * d + k];
    S[(long long)a * m + b] = scale * acc;
}

// Code form, one block per row a of S [n, n]: alpha, beta, row_loss.
extern "C" __global__ void bns_code_rows_v1_f32(float* alpha, float* beta, float* row_loss, const float* S,
                                                const int* lab, int n) {
    __shared__ float scratch[IPDPP_WARP];
    const int a = blockIdx.x;
    const int la = lab[a];
    float ps = 0.0f, pc = 0.0f, ns = 0.0f;
    for (int b = threadIdx.x; b < n; b += blockDim.x) {
        if (b == a) continue;
        const float e = expf(S[(long long)a * n + b]);
        if (lab[b] == la) {
            ps += e;
            pc += 1.0f;
        } else {
            ns += e;
        }
    }
    ps = block_sum_f32(ps, scratch);
    pc = block_sum_f32(pc, scratch);
    ns = block_sum_f32(ns, scratch);
    if (threadIdx.x == 0) bns_code_finish(alpha, beta, row_loss, a, ps, pc, ns, n);
}

// Code form: S (similarities) -> M (dL/ds + its transpose) in place, one thread per element.
extern "C" __global__ void bns_code_grad_v1_f32(float* S, const float* alpha, const float* beta, const int* lab,
                                                int n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)n * n) return;
    const int a = (int)(i / n), b = (int)(i % n);
    float m = 0.0f;
    if (a != b) {
        const float e = expf(S[i]);
        m = lab[a] == lab[b] ? e * (alpha[a] + alpha[b]) : e * (beta[a] + beta[b]);
    }
    S[i] = m;
}

// Paper form, one block per row r of S [rows, m]: S -> W (c * dL/ds) in place, row_loss[r].
extern "C" __global__ void bns_paper_rows_v1_f32(float* S, float* row_loss, const int* lab, const int* row_anchor,
                                                 int rows, int m, float c) {
    __shared__ float scratch[IPDPP_WARP];
    const int r = blockIdx.x;
    const int an = row_anchor[r];
    const int la = lab[an];
    float l = 0.0f;
    for (int j = threadIdx.x; j < m; j += blockDim.x) {
        const float s = S[(long long)r * m + j];
        float w = 0.0f;
        if (j == an) {
            l += bns_softplus(-s);
            w -= bns_sigmoid(-s);
        }
        if (lab[j] != la) {
            l += bns_softplus(s);
            w += bns_sigmoid(s);
        }
        S[(long long)r * m + j] = c * w;
    }
    l = block_sum_f32(l, scratch);
    if (threadIdx.x == 0) row_loss[r] = l;
}

// G[a*d + k] = scale * sum_b M[a, b] * y[b*d + k]  (M [rows, m] or, when tm, stored transposed [m, rows]).
extern "C" __global__ void bns_matmul_v1_f32(float* G, const float* M, const float* y, int rows, int m, int d,
                                             int tm, float scale) {
    const int k = blockIdx.x * blockDim.x + threadIdx.x;
    const int a = blockIdx.y * blockDim.y + threadIdx.y;
    if (a >= rows || k >= d) return;
    float acc = 0.0f;
    for (int b = 0; b < m; ++b) {
        const float mv = tm ? M[(long long)b * rows + a] : M[(long long)a * m + b];
        acc += mv * y[(long long)b * d + k];
    }
    G[(long long)a * d + k] = scale * acc;
}

// ---------------------------------------------------------------------------------------------------------
// v2: fused fp32. 256 threads, 32 own rows per block; thread (ty = tid/8, tx = tid%8) owns row ty and tile
// columns tx + 8j. Tiles of 32 rows × d (d <= 128) in shared memory, zero-padded.

__device__ __forceinline__ void bns_load_tile(float (*T)[BNS_LDS], const float* x, int row0, int rows, int d) {
    for (int i = threadIdx.x; i < BNS_T * BNS_DMAX; i += blockDim.x) {
        const int r = i / BNS_DMAX, k = i % BNS_DMAX;
        T[r][k] = (row0 + r < rows && k < d) ? x[(long long)(row0 + r) * d + k] : 0.0f;
    }
}

// acc[j] = A[ty] . B[tx + 8j]
__device__ __forceinline__ void bns_tile_dots(float acc[4], float (*A)[BNS_LDS], float (*B)[BNS_LDS], int ty, int tx,
                                              int d) {
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[j] = 0.0f;
    for (int k = 0; k < d; ++k) {
        const float av = A[ty][k];
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[j] += av * B[tx + 8 * j][k];
    }
}

extern "C" __global__ void __launch_bounds__(256) bns_code_fwd_v2_f32(float* alpha, float* beta, float* row_loss,
                                                                      const float* zn, const int* lab, int n, int d,
                                                                      float inv_tau) {
    __shared__ float As[BNS_T][BNS_LDS];
    __shared__ float Bs[BNS_T][BNS_LDS];
    __shared__ int Lb[BNS_T];
    const int ty = threadIdx.x / 8, tx = threadIdx.x % 8;
    const int row0 = blockIdx.x * BNS_T;
    const int a = row0 + ty;
    const int la = a < n ? lab[a] : 0;
    bns_load_tile(As, zn, row0, n, d);
    float ps = 0.0f, pc = 0.0f, ns = 0.0f;
    for (int c0 = 0; c0 < n; c0 += BNS_T) {
        __syncthreads();
        bns_load_tile(Bs, zn, c0, n, d);
        if (threadIdx.x < BNS_T) Lb[threadIdx.x] = c0 + threadIdx.x < n ? lab[c0 + threadIdx.x] : 0;
        __syncthreads();
        float acc[4];
        bns_tile_dots(acc, As, Bs, ty, tx, d);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int b = c0 + tx + 8 * j;
            if (a < n && b < n && b != a) {
                const float e = expf(acc[j] * inv_tau);
                if (Lb[tx + 8 * j] == la) {
                    ps += e;
                    pc += 1.0f;
                } else {
                    ns += e;
                }
            }
        }
    }
#pragma unroll
    for (int o = 4; o > 0; o >>= 1) {
        ps += __shfl_xor_sync(0xffffffffu, ps, o);
        pc += __shfl_xor_sync(0xffffffffu, pc, o);
        ns += __shfl_xor_sync(0xffffffffu, ns, o);
    }
    if (tx == 0 && a < n) bns_code_finish(alpha, beta, row_loss, a, ps, pc, ns, n);
}

// The backward-style pass shared by the code form and both paper passes: the block owns 32 rows of x,
// streams 32-row tiles of y, forms a coefficient per (own row, tile row) pair and accumulates
// G[own] = scale * sum coef * y. MODE 0: code form (x = y = zn; coef = E (c_a + c_b)); MODE 1: paper rows
// (x = q rows, y = v; also row_loss); MODE 2: paper columns (x = v, y = q rows; coef = w_rj transposed).
template <int MODE>
__device__ __forceinline__ void bns_pass_v2(float* G, float* row_loss, const float* x, const float* y, int nx, int ny,
                                            int d, float inv_tau, const int* lab, const float* alpha,
                                            const float* beta, const int* row_anchor, float c) {
    __shared__ float As[BNS_T][BNS_LDS];
    __shared__ float Bs[BNS_T][BNS_LDS];
    __shared__ float Ms[BNS_T][BNS_T + 1];
    __shared__ int Lb[BNS_T];
    __shared__ int Ab[BNS_T];
    __shared__ float Alb[BNS_T];
    __shared__ float Beb[BNS_T];
    const int ty = threadIdx.x / 8, tx = threadIdx.x % 8;
    const int row0 = blockIdx.x * BNS_T;
    const int a = row0 + ty;
    // Own-row constants.
    int la = 0, an = -1;
    float al = 0.0f, be = 0.0f;
    if (a < nx) {
        if (MODE == 0) {
            la = lab[a];
            al = alpha[a];
            be = beta[a];
        } else if (MODE == 1) {
            an = row_anchor[a];
            la = lab[an];
        } else {
            la = lab[a];  // label of v_a
        }
    }
    bns_load_tile(As, x, row0, nx, d);
    float g[BNS_DMAX / 8];
#pragma unroll
    for (int i = 0; i < BNS_DMAX / 8; ++i) g[i] = 0.0f;
    float lsum = 0.0f;
    for (int c0 = 0; c0 < ny; c0 += BNS_T) {
        __syncthreads();
        bns_load_tile(Bs, y, c0, ny, d);
        if (threadIdx.x < BNS_T) {
            const int b = c0 + threadIdx.x;
            const bool ok = b < ny;
            if (MODE == 0) {
                Lb[threadIdx.x] = ok ? lab[b] : 0;
                Alb[threadIdx.x] = ok ? alpha[b] : 0.0f;
                Beb[threadIdx.x] = ok ? beta[b] : 0.0f;
            } else if (MODE == 1) {
                Lb[threadIdx.x] = ok ? lab[b] : 0;
            } else {
                const int anb = ok ? row_anchor[b] : 0;
                Ab[threadIdx.x] = ok ? anb : -1;
                Lb[threadIdx.x] = ok ? lab[anb] : 0;
            }
        }
        __syncthreads();
        float acc[4];
        bns_tile_dots(acc, As, Bs, ty, tx, d);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int cj = tx + 8 * j;
            const int b = c0 + cj;
            float coef = 0.0f;
            if (a < nx && b < ny) {
                const float s = acc[j] * inv_tau;
                if (MODE == 0) {
                    if (b != a) {
                        const float e = expf(s);
                        coef = Lb[cj] == la ? e * (al + Alb[cj]) : e * (be + Beb[cj]);
                    }
                } else {
                    // pair (q row, v column): MODE 1 own = q row a, column b = v index;
                    // MODE 2 own = v index a, column b = q row.
                    const int vj = MODE == 1 ? b : a;
                    const int anc = MODE == 1 ? an : Ab[cj];
                    const int lv = MODE == 1 ? Lb[cj] : la;      // label of v_j
                    const int lq = MODE == 1 ? la : Lb[cj];      // label of the anchor
                    float w = 0.0f;
                    if (vj == anc) {
                        w -= bns_sigmoid(-s);
                        if (MODE == 1) lsum += bns_softplus(-s);
                    }
                    if (lv != lq) {
                        w += bns_sigmoid(s);
                        if (MODE == 1) lsum += bns_softplus(s);
                    }
                    coef = c * w;
                }
            }
            Ms[ty][cj] = coef;
        }
        __syncthreads();
        for (int cc = 0; cc < BNS_T; ++cc) {
            const float m = Ms[ty][cc];
#pragma unroll
            for (int i = 0; i < BNS_DMAX / 8; ++i) g[i] += m * Bs[cc][tx + 8 * i];
        }
    }
    if (MODE == 1) {
#pragma unroll
        for (int o = 4; o > 0; o >>= 1) lsum += __shfl_xor_sync(0xffffffffu, lsum, o);
        if (tx == 0 && a < nx) row_loss[a] = lsum;
    }
    if (a < nx) {
#pragma unroll
        for (int i = 0; i < BNS_DMAX / 8; ++i) {
            const int k = tx + 8 * i;
            if (k < d) G[(long long)a * d + k] = g[i] * inv_tau;
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) bns_code_bwd_v2_f32(float* gz, const float* alpha,
                                                                      const float* beta, const float* zn,
                                                                      const int* lab, int n, int d, float inv_tau) {
    bns_pass_v2<0>(gz, nullptr, zn, zn, n, n, d, inv_tau, lab, alpha, beta, nullptr, 0.0f);
}

// Paper form, rows: gq_rows [rows, d] and row_loss [rows] from the gathered q rows and v [m, d].
extern "C" __global__ void __launch_bounds__(256) bns_paper_rows_v2_f32(float* gqr, float* row_loss, const float* qr,
                                                                        const float* vn, const int* lab,
                                                                        const int* row_anchor, int rows, int m, int d,
                                                                        float inv_tau, float c) {
    bns_pass_v2<1>(gqr, row_loss, qr, vn, rows, m, d, inv_tau, lab, nullptr, nullptr, row_anchor, c);
}

// Paper form, columns: gv [m, d].
extern "C" __global__ void __launch_bounds__(256) bns_paper_cols_v2_f32(float* gv, const float* vn, const float* qr,
                                                                        const int* lab, const int* row_anchor,
                                                                        int rows, int m, int d, float inv_tau,
                                                                        float c) {
    bns_pass_v2<2>(gv, nullptr, vn, qr, m, rows, d, inv_tau, lab, nullptr, nullptr, row_anchor, c);
}

// ---------------------------------------------------------------------------------------------------------
// v3: bf16 tensor cores. 4 warps per block, 16 own rows per warp (64 per block); column tiles of
// 64 rows staged in shared memory (and transposed for the backward's second product). zb: bf16 rows of
// stride 128, zero-padded beyond d.

#define BNS_V3_BM 64
#define BNS_V3_BN 64

__device__ __forceinline__ void bns_mma_bf16(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats to packed bf16x2: `lo` in the low half (the lower column index).
__device__ __forceinline__ unsigned bns_pack_bf16(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

__device__ __forceinline__ unsigned bns_ld32(const unsigned short* p) { return *reinterpret_cast<const unsigned*>(p); }

// A fragments of the warp's 16 rows (all 8 k-steps of 16 dims), rows beyond n read as zero.
__device__ __forceinline__ void bns_load_a_frags(unsigned a[8][4], const unsigned short* zb, int r0, int n) {
    const int lane = threadIdx.x % 32, gq = lane / 4, tg = lane % 4;
    const bool ok0 = r0 + gq < n, ok1 = r0 + gq + 8 < n;
    const unsigned short* p0 = zb + (long long)(r0 + gq) * BNS_DMAX;
    const unsigned short* p1 = zb + (long long)(r0 + gq + 8) * BNS_DMAX;
#pragma unroll
    for (int ks = 0; ks < 8; ++ks) {
        const int k = ks * 16 + tg * 2;
        a[ks][0] = ok0 ? bns_ld32(p0 + k) : 0u;
        a[ks][1] = ok1 ? bns_ld32(p1 + k) : 0u;
        a[ks][2] = ok0 ? bns_ld32(p0 + k + 8) : 0u;
        a[ks][3] = ok1 ? bns_ld32(p1 + k + 8) : 0u;
    }
}

// Column tile rows c0..c0+63 into Bt (16-byte copies), zero rows beyond n.
__device__ __forceinline__ void bns_load_b_tile(unsigned short (*Bt)[BNS_LDB], const unsigned short* zb, int c0, int n) {
    for (int i = threadIdx.x; i < BNS_V3_BN * (BNS_DMAX / 8); i += blockDim.x) {
        const int r = i / (BNS_DMAX / 8), q = i % (BNS_DMAX / 8);
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (c0 + r < n) v = *reinterpret_cast<const uint4*>(zb + (long long)(c0 + r) * BNS_DMAX + q * 8);
        *reinterpret_cast<uint4*>(&Bt[r][q * 8]) = v;
    }
}

// S tile of the warp: acc[nt][.] for columns nt*8 + (lane%4)*2 + {0,1}, rows lane/4 and lane/4 + 8.
__device__ __forceinline__ void bns_s_tile(float acc[8][4], const unsigned a[8][4], unsigned short (*Bt)[BNS_LDB]) {
    const int lane = threadIdx.x % 32, gq = lane / 4, tg = lane % 4;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
        acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
    }
#pragma unroll
    for (int ks = 0; ks < 8; ++ks) {
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
            const unsigned short* p = &Bt[nt * 8 + gq][ks * 16 + tg * 2];
            bns_mma_bf16(acc[nt], a[ks], bns_ld32(p), bns_ld32(p + 8));
        }
    }
}

// BtT[k][c] = Bt[c][k]: the column tile k-major, the B operand of the second product (call between the
// barrier that completes Bt and the one before the BtT reads).
__device__ __forceinline__ void bns_transpose_b_tile(unsigned short (*BtT)[BNS_LDT], unsigned short (*Bt)[BNS_LDB]) {
    for (int i = threadIdx.x; i < BNS_V3_BN * BNS_DMAX; i += blockDim.x) {
        const int c = i % BNS_V3_BN, k = i / BNS_V3_BN;
        BtT[k][c] = Bt[c][k];
    }
}

// g += M · tile for the warp's 16 rows: M [16, 64] is a coefficient tile in bns_s_tile's accumulator layout,
// rounded to bf16 A fragments (the accumulators of n-tiles 2j and 2j+1 are the A fragment of k-step j);
// the tile is BtT (128 dims × 64 columns); g[nt][.] holds dims nt*8 + (lane%4)*2 + {0,1}.
__device__ __forceinline__ void bns_mt_tile(float g[16][4], const float m[8][4], unsigned short (*BtT)[BNS_LDT]) {
    const int lane = threadIdx.x % 32, gq = lane / 4, tg = lane % 4;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        unsigned pa[4];
        pa[0] = bns_pack_bf16(m[2 * j][0], m[2 * j][1]);
        pa[1] = bns_pack_bf16(m[2 * j][2], m[2 * j][3]);
        pa[2] = bns_pack_bf16(m[2 * j + 1][0], m[2 * j + 1][1]);
        pa[3] = bns_pack_bf16(m[2 * j + 1][2], m[2 * j + 1][3]);
#pragma unroll
        for (int nt = 0; nt < 16; ++nt) {
            const unsigned short* p = &BtT[nt * 8 + gq][j * 16 + tg * 2];
            bns_mma_bf16(g[nt], pa, bns_ld32(p), bns_ld32(p + 8));
        }
    }
}

// G[row, k] = scale * g for the warp's rows r0 + lane/4 and r0 + lane/4 + 8 below n, dims k < d; ATOMIC:
// added (several column splits add into the zeroed G).
template <bool ATOMIC = false>
__device__ __forceinline__ void bns_store_g(float* G, const float g[16][4], int r0, int n, int d, float scale) {
    const int lane = threadIdx.x % 32, gq = lane / 4, tg = lane % 4;
#pragma unroll
    for (int nt = 0; nt < 16; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int r = r0 + gq + 8 * (e / 2);
            const int k = nt * 8 + tg * 2 + (e % 2);
            if (r >= n || k >= d) continue;
            if (ATOMIC) atomicAdd(&G[(long long)r * d + k], g[nt][e] * scale);
            else G[(long long)r * d + k] = g[nt][e] * scale;
        }
    }
}

// Masked exponential sums of the warp's two rows over one 64-column tile (the forward's inner loop).
__device__ __forceinline__ void bns_code_sums_tile(float ps[2], float pc[2], float ns[2], const float acc[8][4],
                                                   const int ra[2], const int la[2], const int* Lb, int c0, int n,
                                                   float inv_tau) {
    const int tg = (threadIdx.x % 32) % 4;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int h = e / 2;
            const int cj = nt * 8 + tg * 2 + (e % 2);
            const int b = c0 + cj;
            if (ra[h] < n && b < n && b != ra[h]) {
                const float ex = __expf(acc[nt][e] * inv_tau);
                if (Lb[cj] == la[h]) {
                    ps[h] += ex;
                    pc[h] += 1.0f;
                } else {
                    ns[h] += ex;
                }
            }
        }
    }
}

// Row parameters of the warp's two rows (label, alpha, beta; zeros beyond n) for the backward.
__device__ __forceinline__ void bns_code_row_params(int la[2], float al[2], float be[2], const int ra[2], const int* lab,
                                                    const float* alpha, const float* beta, int n) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const bool ok = ra[h] < n;
        la[h] = ok ? lab[ra[h]] : 0;
        al[h] = ok ? alpha[ra[h]] : 0.0f;
        be[h] = ok ? beta[ra[h]] : 0.0f;
    }
}

// The column tile c0..c0+63 and its labels, alphas and betas into shared memory (zeros beyond n).
__device__ __forceinline__ void bns_code_load_cols(unsigned short (*Bt)[BNS_LDB], int* Lb, float* Alb, float* Beb,
                                                   const unsigned short* zb, const int* lab, const float* alpha,
                                                   const float* beta, int c0, int n) {
    bns_load_b_tile(Bt, zb, c0, n);
    if (threadIdx.x < BNS_V3_BN) {
        const int b = c0 + threadIdx.x;
        const bool ok = b < n;
        Lb[threadIdx.x] = ok ? lab[b] : 0;
        Alb[threadIdx.x] = ok ? alpha[b] : 0.0f;
        Beb[threadIdx.x] = ok ? beta[b] : 0.0f;
    }
}

// The backward's coefficients in place of the similarities: acc = e^s (c_a + c_b) with c = alpha on the same
// label, beta otherwise; 0 on the diagonal and beyond n.
__device__ __forceinline__ void bns_code_coeff_tile(float acc[8][4], const int ra[2], const int la[2], const float al[2],
                                                    const float be[2], const int* Lb, const float* Alb,
                                                    const float* Beb, int c0, int n, float inv_tau) {
    const int tg = (threadIdx.x % 32) % 4;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int h = e / 2;
            const int cj = nt * 8 + tg * 2 + (e % 2);
            const int b = c0 + cj;
            float m = 0.0f;
            if (ra[h] < n && b < n && b != ra[h]) {
                const float ex = __expf(acc[nt][e] * inv_tau);
                m = Lb[cj] == la[h] ? ex * (al[h] + Alb[cj]) : ex * (be[h] + Beb[cj]);
            }
            acc[nt][e] = m;
        }
    }
}

// The forward's sums for the warp's rows ra[0..1] (set here) over columns [c_begin, c_end): e^s over the
// positives, the positive count, e^s over the negatives; reduced over the row's 4 lanes.
__device__ __forceinline__ void bns_code_fwd_sums(float ps[2], float pc[2], float ns[2], int ra[2],
                                                  const unsigned short* zb, const int* lab, int n, float inv_tau,
                                                  int c_begin, int c_end) {
    __shared__ __align__(16) unsigned short Bt[BNS_V3_BN][BNS_LDB];
    __shared__ int Lb[BNS_V3_BN];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, gq = lane / 4;
    const int r0 = blockIdx.x * BNS_V3_BM + warp * 16;
    ra[0] = r0 + gq;
    ra[1] = r0 + gq + 8;
    const int la[2] = {ra[0] < n ? lab[ra[0]] : 0, ra[1] < n ? lab[ra[1]] : 0};
    unsigned a[8][4];
    bns_load_a_frags(a, zb, r0, n);
#pragma unroll
    for (int h = 0; h < 2; ++h) ps[h] = pc[h] = ns[h] = 0.0f;
    for (int c0 = c_begin; c0 < c_end; c0 += BNS_V3_BN) {
        __syncthreads();
        bns_load_b_tile(Bt, zb, c0, n);
        if (threadIdx.x < BNS_V3_BN) Lb[threadIdx.x] = c0 + threadIdx.x < n ? lab[c0 + threadIdx.x] : 0;
        __syncthreads();
        float acc[8][4];
        bns_s_tile(acc, a, Bt);
        bns_code_sums_tile(ps, pc, ns, acc, ra, la, Lb, c0, n, inv_tau);
    }
    bns_quad_sum(ps);
    bns_quad_sum(pc);
    bns_quad_sum(ns);
}

extern "C" __global__ void __launch_bounds__(128) bns_code_fwd_v3_bf16(float* alpha, float* beta, float* row_loss,
                                                                       const unsigned short* zb, const int* lab, int n,
                                                                       float inv_tau) {
    int ra[2];
    float ps[2], pc[2], ns[2];
    bns_code_fwd_sums(ps, pc, ns, ra, zb, lab, n, inv_tau, 0, n);
#pragma unroll
    for (int h = 0; h < 2; ++h)
        if (threadIdx.x % 4 == 0 && ra[h] < n) bns_code_finish(alpha, beta, row_loss, ra[h], ps[h], pc[h], ns[h], n);
}

// Backward: g_a = (1/tau) sum_b M_ab zhat_b with M recomputed per tile in registers, turned into bf16 A
// fragments (the accumulator layout of two adjacent n-tiles is the A layout of one k-step) and multiplied
// by the transposed column tile. gz is [n, d] fp32.
extern "C" __global__ void __launch_bounds__(128) bns_code_bwd_v3_bf16(float* gz, const float* alpha,
                                                                       const float* beta, const unsigned short* zb,
                                                                       const int* lab, int n, int d, float inv_tau) {
    __shared__ __align__(16) unsigned short Bt[BNS_V3_BN][BNS_LDB];
    __shared__ __align__(16) unsigned short BtT[BNS_DMAX][BNS_LDT];
    __shared__ int Lb[BNS_V3_BN];
    __shared__ float Alb[BNS_V3_BN];
    __shared__ float Beb[BNS_V3_BN];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, gq = lane / 4;
    const int r0 = blockIdx.x * BNS_V3_BM + warp * 16;
    const int ra[2] = {r0 + gq, r0 + gq + 8};
    int la[2];
    float al[2], be[2];
    bns_code_row_params(la, al, be, ra, lab, alpha, beta, n);
    unsigned a[8][4];
    bns_load_a_frags(a, zb, r0, n);
    float g[16][4];
#pragma unroll
    for (int nt = 0; nt < 16; ++nt) g[nt][0] = g[nt][1] = g[nt][2] = g[nt][3] = 0.0f;
    for (int c0 = 0; c0 < n; c0 += BNS_V3_BN) {
        __syncthreads();
        bns_code_load_cols(Bt, Lb, Alb, Beb, zb, lab, alpha, beta, c0, n);
        __syncthreads();
        bns_transpose_b_tile(BtT, Bt);
        float acc[8][4];
        bns_s_tile(acc, a, Bt);
        bns_code_coeff_tile(acc, ra, la, al, be, Lb, Alb, Beb, c0, n, inv_tau);
        __syncthreads();  // BtT complete
        bns_mt_tile(g, acc, BtT);
    }
    bns_store_g(gz, g, r0, n, d, inv_tau);
}

// ---------------------------------------------------------------------------------------------------------
// v4, code form: v3's tiles with the columns split over blockIdx.y, so that n = 8192 launches 128 x splits
// blocks instead of 128 (v3 leaves most of a 132-SM GPU with one 4-warp block each); per-row partial sums
// (forward) and gradient rows (backward) are added with atomics and the row coefficients finished by
// bns_code_fin_v4_f32. The backward's second product reads the column tile with ldmatrix.trans instead of
// transposing it through shared memory. Each block covers columns [blockIdx.y * cols, + cols), cols a
// multiple of 64.

// part[3 r + {0, 1, 2}] += (sum of e^s over positives, positive count, sum over negatives); part zeroed.
extern "C" __global__ void __launch_bounds__(128) bns_code_fwd_v4_bf16(float* part, const unsigned short* zb,
                                                                       const int* lab, int n, float inv_tau,
                                                                       int cols) {
    int ra[2];
    float ps[2], pc[2], ns[2];
    bns_code_fwd_sums(ps, pc, ns, ra, zb, lab, n, inv_tau, blockIdx.y * cols, min(n, (blockIdx.y + 1) * cols));
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        if (threadIdx.x % 4 == 0 && ra[h] < n) {
            atomicAdd(&part[3 * ra[h]], ps[h]);
            atomicAdd(&part[3 * ra[h] + 1], pc[h]);
            atomicAdd(&part[3 * ra[h] + 2], ns[h]);
        }
    }
}

// Row coefficients and losses from the summed partials, one thread per row.
extern "C" __global__ void bns_code_fin_v4_f32(float* alpha, float* beta, float* row_loss, const float* part, int n) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r < n) bns_code_finish(alpha, beta, row_loss, r, part[3 * r], part[3 * r + 1], part[3 * r + 2], n);
}

__device__ __forceinline__ void bns_ldsm_x4_t(unsigned (&r)[4], const unsigned short* p) {
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(p));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a)
                 : "memory");
}

// g += M · tile as bns_mt_tile, the B operand (the column tile, [column][dim] = [k][n]) read with
// ldmatrix.trans: matrices (k 0-7 | 8-15) x (dims 0-7 | 8-15) give b0/b1 of two adjacent 8-dim n-tiles.
__device__ __forceinline__ void bns_mt_tile_ldsm(float g[16][4], const float m[8][4], unsigned short (*Bt)[BNS_LDB]) {
    const int lane = threadIdx.x % 32;
    const int l8 = lane % 8, lb3 = (lane >> 3) & 1, lb4 = lane >> 4;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        unsigned pa[4];
        pa[0] = bns_pack_bf16(m[2 * j][0], m[2 * j][1]);
        pa[1] = bns_pack_bf16(m[2 * j][2], m[2 * j][3]);
        pa[2] = bns_pack_bf16(m[2 * j + 1][0], m[2 * j + 1][1]);
        pa[3] = bns_pack_bf16(m[2 * j + 1][2], m[2 * j + 1][3]);
#pragma unroll
        for (int np = 0; np < 8; ++np) {
            unsigned r[4];
            bns_ldsm_x4_t(r, &Bt[j * 16 + l8 + 8 * lb3][np * 16 + 8 * lb4]);
            bns_mma_bf16(g[2 * np], pa, r[0], r[1]);
            bns_mma_bf16(g[2 * np + 1], pa, r[2], r[3]);
        }
    }
}

// gz[row, k] += (1/tau) sum over this block's columns; gz zeroed, d ≤ 128.
extern "C" __global__ void __launch_bounds__(128) bns_code_bwd_v4_bf16(float* gz, const float* alpha,
                                                                       const float* beta, const unsigned short* zb,
                                                                       const int* lab, int n, int d, float inv_tau,
                                                                       int cols) {
    __shared__ __align__(16) unsigned short Bt[BNS_V3_BN][BNS_LDB];
    __shared__ int Lb[BNS_V3_BN];
    __shared__ float Alb[BNS_V3_BN];
    __shared__ float Beb[BNS_V3_BN];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, gq = lane / 4;
    const int r0 = blockIdx.x * BNS_V3_BM + warp * 16;
    const int ra[2] = {r0 + gq, r0 + gq + 8};
    int la[2];
    float al[2], be[2];
    bns_code_row_params(la, al, be, ra, lab, alpha, beta, n);
    unsigned a[8][4];
    bns_load_a_frags(a, zb, r0, n);
    float g[16][4];
#pragma unroll
    for (int nt = 0; nt < 16; ++nt) g[nt][0] = g[nt][1] = g[nt][2] = g[nt][3] = 0.0f;
    const int c_end = min(n, (blockIdx.y + 1) * cols);
    for (int c0 = blockIdx.y * cols; c0 < c_end; c0 += BNS_V3_BN) {
        __syncthreads();
        bns_code_load_cols(Bt, Lb, Alb, Beb, zb, lab, alpha, beta, c0, n);
        __syncthreads();
        float acc[8][4];
        bns_s_tile(acc, a, Bt);
        bns_code_coeff_tile(acc, ra, la, al, be, Lb, Alb, Beb, c0, n, inv_tau);
        bns_mt_tile_ldsm(g, acc, Bt);
    }
    bns_store_g<true>(gz, g, r0, n, d, inv_tau);
}

// ---------------------------------------------------------------------------------------------------------
// v3, paper form: the two passes of v2 (bns_pass_v2<1>, <2>) on the v3 tiles. Rows r are the gathered q rows
// (qrb [rows, 128] bf16), columns j the view-2 images (vb [m, 128] bf16). Per (r, j): s = q_r.v_j / tau,
// w_rj = -sigmoid(-s) [j = anchor_r] + sigmoid(s) [label_j != label_anchor_r]; the factor c = 1/rows is
// applied once at the store (and by bns_loss_sum_f32 to the row losses).


// out[r] = in[idx[r]] for bf16 rows of stride 128 (16-byte copies): the paper form's q rows for v3.
extern "C" __global__ void bns_gather_rows_bf16(unsigned short* out, const unsigned short* in, const int* idx,
                                                int rows) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * (BNS_DMAX / 8)) return;
    const int r = (int)(i / (BNS_DMAX / 8)), q = (int)(i % (BNS_DMAX / 8));
    reinterpret_cast<uint4*>(out)[i] =
        reinterpret_cast<const uint4*>(in)[(long long)idx[r] * (BNS_DMAX / 8) + q];
}

// MODE 1 (rows): own rows = q rows (xb = qrb, nx = rows), column tiles of v (yb = vb, ny = m); writes
// G = gq rows and row_loss. MODE 2 (columns): own rows = v (xb = vb, nx = m), column tiles of q rows
// (yb = qrb, ny = rows), the coefficient tile is w transposed; writes G = gv.
// SPLIT (v4): the block covers the columns [blockIdx.y * cols, + cols) only, reads the column tile with
// ldmatrix.trans instead of transposing it, and adds its G rows and row losses with atomics (both zeroed).
template <int MODE, bool SPLIT>
__device__ __forceinline__ void bns_paper_pass(float* G, float* row_loss, const unsigned short* xb,
                                               const unsigned short* yb, int nx, int ny, int d, float inv_tau,
                                               const int* lab, const int* row_anchor, float c, int cols) {
    __shared__ __align__(16) unsigned short Bt[BNS_V3_BN][BNS_LDB];
    __shared__ __align__(16) unsigned short BtT[SPLIT ? 1 : BNS_DMAX][BNS_LDT];
    __shared__ int Lb[BNS_V3_BN];  // MODE 1: label of v_j; MODE 2: label of the row's anchor
    __shared__ int Ab[BNS_V3_BN];  // MODE 2: the row's anchor (-1 beyond ny)
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, gq = lane / 4, tg = lane % 4;
    const int r0 = blockIdx.x * BNS_V3_BM + warp * 16;
    const int ra[2] = {r0 + gq, r0 + gq + 8};
    // Own-row constants: MODE 1 the anchor and its label, MODE 2 the label of v_a.
    int la[2], an[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const bool ok = ra[h] < nx;
        if (MODE == 1) {
            an[h] = ok ? row_anchor[ra[h]] : -1;
            la[h] = ok ? lab[an[h]] : 0;
        } else {
            an[h] = -1;
            la[h] = ok ? lab[ra[h]] : 0;
        }
    }
    unsigned a[8][4];
    bns_load_a_frags(a, xb, r0, nx);
    float g[16][4];
#pragma unroll
    for (int nt = 0; nt < 16; ++nt) g[nt][0] = g[nt][1] = g[nt][2] = g[nt][3] = 0.0f;
    float lsum[2] = {0.0f, 0.0f};
    const int c_begin = SPLIT ? blockIdx.y * cols : 0;
    const int c_end = SPLIT ? min(ny, (blockIdx.y + 1) * cols) : ny;
    for (int c0 = c_begin; c0 < c_end; c0 += BNS_V3_BN) {
        __syncthreads();
        bns_load_b_tile(Bt, yb, c0, ny);
        if (threadIdx.x < BNS_V3_BN) {
            const int b = c0 + threadIdx.x;
            const bool ok = b < ny;
            if (MODE == 1) {
                Lb[threadIdx.x] = ok ? lab[b] : 0;
            } else {
                const int anb = ok ? row_anchor[b] : 0;
                Ab[threadIdx.x] = ok ? anb : -1;
                Lb[threadIdx.x] = ok ? lab[anb] : 0;
            }
        }
        __syncthreads();
        if constexpr (!SPLIT) bns_transpose_b_tile(BtT, Bt);
        float acc[8][4];
        bns_s_tile(acc, a, Bt);
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int h = e / 2;
                const int cj = nt * 8 + tg * 2 + (e % 2);
                const int b = c0 + cj;
                float w = 0.0f;
                if (ra[h] < nx && b < ny) {
                    const float s = acc[nt][e] * inv_tau;
                    // pair (q row, v column): MODE 1 own = q row ra[h], column b = v index;
                    // MODE 2 own = v index ra[h], column b = q row.
                    const int vj = MODE == 1 ? b : ra[h];
                    const int anc = MODE == 1 ? an[h] : Ab[cj];
                    const int lv = MODE == 1 ? Lb[cj] : la[h];  // label of v_j
                    const int lq = MODE == 1 ? la[h] : Lb[cj];  // label of the anchor
                    const bool pos = vj == anc, neg = lv != lq;
                    if (pos || neg) {
                        float sp, sm, l1p;
                        bns_sigmoid_pair(s, sp, sm, l1p);
                        if (pos) {
                            w -= sm;
                            if (MODE == 1) lsum[h] += fmaxf(-s, 0.0f) + l1p;
                        }
                        if (neg) {
                            w += sp;
                            if (MODE == 1) lsum[h] += fmaxf(s, 0.0f) + l1p;
                        }
                    }
                }
                acc[nt][e] = w;
            }
        }
        if constexpr (SPLIT) {
            bns_mt_tile_ldsm(g, acc, Bt);
        } else {
            __syncthreads();  // BtT complete
            bns_mt_tile(g, acc, BtT);
        }
    }
    if (MODE == 1) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
#pragma unroll
            for (int o = 1; o < 4; o <<= 1) lsum[h] += __shfl_xor_sync(0xffffffffu, lsum[h], o);
            if (tg == 0 && ra[h] < nx) {
                if (SPLIT) atomicAdd(&row_loss[ra[h]], lsum[h]);
                else row_loss[ra[h]] = lsum[h];
            }
        }
    }
    bns_store_g<SPLIT>(G, g, r0, nx, d, c * inv_tau);
}

// Paper form, rows: gq rows [rows, d] and row_loss [rows] from the bf16 q rows and v [m, 128].
extern "C" __global__ void __launch_bounds__(128) bns_paper_rows_v3_bf16(float* gqr, float* row_loss,
                                                                         const unsigned short* qrb,
                                                                         const unsigned short* vb, const int* lab,
                                                                         const int* row_anchor, int rows, int m,
                                                                         int d, float inv_tau, float c) {
    bns_paper_pass<1, false>(gqr, row_loss, qrb, vb, rows, m, d, inv_tau, lab, row_anchor, c, 0);
}

// Paper form, columns: gv [m, d].
extern "C" __global__ void __launch_bounds__(128) bns_paper_cols_v3_bf16(float* gv, const unsigned short* vb,
                                                                         const unsigned short* qrb, const int* lab,
                                                                         const int* row_anchor, int rows, int m,
                                                                         int d, float inv_tau, float c) {
    bns_paper_pass<2, false>(gv, nullptr, vb, qrb, m, rows, d, inv_tau, lab, row_anchor, c, 0);
}

// v4, paper form: the two passes of v3 with the columns split over blockIdx.y (cols per split, a multiple of
// 64), ldmatrix.trans for the second product and atomics into the zeroed gq rows, row losses and gv.
extern "C" __global__ void __launch_bounds__(128) bns_paper_rows_v4_bf16(float* gqr, float* row_loss,
                                                                         const unsigned short* qrb,
                                                                         const unsigned short* vb, const int* lab,
                                                                         const int* row_anchor, int rows, int m,
                                                                         int d, float inv_tau, float c, int cols) {
    bns_paper_pass<1, true>(gqr, row_loss, qrb, vb, rows, m, d, inv_tau, lab, row_anchor, c, cols);
}

extern "C" __global__ void __launch_bounds__(128) bns_paper_cols_v4_bf16(float* gv, const unsigned short* vb,
                                                                         const unsigned short* qrb, const int* lab,
                                                                         const int* row_anchor, int rows, int m,
                                                                         int d, float inv_tau, float c, int cols) {
    bns_paper_pass<2, true>(gv, nullptr, vb, qrb, m, rows, d, inv_tau, lab, row_anchor, c, cols);
}
