// targets: sm_80 sm_90
// Batch norm over channels-last activations x [rows, C]. Statistics in two passes (mean, then centred
// squares) from per-block partial sums reduced in double, so large batches do not lose the variance
// to cancellation. Training normalises with the biased variance and updates the running variance with
// the unbiased one, as PyTorch does.
#include "common.cuh"

// Block (32, 8): threadIdx.x walks 32 channels, threadIdx.y 8 row lanes; blockIdx.y picks a row chunk.
// mode 0: Σ x; mode 1: Σ (x − mean)²; mode 2: Σ gy and Σ gy·x̂ (x̂ from mean, rstd).
__device__ __forceinline__ void partial_sums(float* out_a, float* out_b, const float* x, const float* gy,
                                             const float* mean, const float* rstd, int rows, int C,
                                             int rows_per_block, int mode) {
    __shared__ float sa[8][33];
    __shared__ float sb[8][33];
    const int c = blockIdx.x * 32 + threadIdx.x;
    const int r0 = blockIdx.y * rows_per_block;
    const int r1 = min(rows, r0 + rows_per_block);
    float a = 0.0f, b = 0.0f;
    if (c < C) {
        const float m = (mode == 0) ? 0.0f : mean[c];
        const float rs = (mode == 2) ? rstd[c] : 1.0f;
        for (int r = r0 + threadIdx.y; r < r1; r += 8) {
            const float v = x[(long long)r * C + c];
            if (mode == 0) {
                a += v;
            } else if (mode == 1) {
                const float t = v - m;
                a += t * t;
            } else {
                const float g = gy[(long long)r * C + c];
                a += g;
                b += g * (v - m) * rs;
            }
        }
    }
    sa[threadIdx.y][threadIdx.x] = a;
    sb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float ta = 0.0f, tb = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            ta += sa[i][threadIdx.x];
            tb += sb[i][threadIdx.x];
        }
        out_a[(long long)blockIdx.y * C + c] = ta;
        if (out_b) out_b[(long long)blockIdx.y * C + c] = tb;
    }
}

extern "C" __global__ void batchnorm_sum_partial_f32(float* part, const float* x, int rows, int C, int rows_per_block) {
    partial_sums(part, nullptr, x, nullptr, nullptr, nullptr, rows, C, rows_per_block, 0);
}

extern "C" __global__ void batchnorm_sq_partial_f32(float* part, const float* x, const float* mean, int rows, int C,
                                                    int rows_per_block) {
    partial_sums(part, nullptr, x, nullptr, mean, nullptr, rows, C, rows_per_block, 1);
}

extern "C" __global__ void batchnorm_bwd_partial_f32(float* part_g, float* part_gx, const float* gy, const float* x,
                                                     const float* mean, const float* rstd, int rows, int C,
                                                     int rows_per_block) {
    partial_sums(part_g, part_gx, x, gy, mean, rstd, rows, C, rows_per_block, 2);
}

// The per-channel reductions below run in blocks of (32, 8): threadIdx.x walks 32 channels, threadIdx.y
// 8 lanes over the partial rows, in double; one thread per channel walking thousands of partials in turn
// was latency-bound (4 ms of a 90 ms ResNet-18 step on an H200). Every thread of the block calls
// lane_sum (it synchronises); the sum over the 8 lanes comes back in each of them.
__device__ __forceinline__ double lane_sum(double v) {
    __shared__ double lanes[8][32];
    lanes[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    double t = 0.0;
#pragma unroll
    for (int i = 0; i < 8; ++i) t += lanes[i][threadIdx.x];
    __syncthreads();
    return t;
}

// Σ over rows [0, parts) of part[*, C] at channel c, summed over the block's lanes.
__device__ __forceinline__ double parts_sum(const float* part, int parts, int C, int c) {
    double s = 0.0;
    if (c < C) {
#pragma unroll 4
        for (int i = threadIdx.y; i < parts; i += 8) s += part[(long long)i * C + c];
    }
    return lane_sum(s);
}

// mean[c] = Σ_parts / rows
extern "C" __global__ void batchnorm_mean_f32(float* mean, const float* part, int parts, int C, int rows) {
    const int c = blockIdx.x * 32 + threadIdx.x;
    const double s = parts_sum(part, parts, C, c);
    if (threadIdx.y == 0 && c < C) mean[c] = (float)(s / rows);
}

extern "C" __global__ void batchnorm_var_f32(float* rstd, float* running_mean, float* running_var, const float* mean,
                                             const float* part, int parts, int C, int rows, float eps, float momentum) {
    const int c = blockIdx.x * 32 + threadIdx.x;
    const double s = parts_sum(part, parts, C, c);
    if (threadIdx.y != 0 || c >= C) return;
    const double var = s / rows;
    rstd[c] = (float)(1.0 / sqrt(var + (double)eps));
    const double unbiased = rows > 1 ? var * rows / (rows - 1.0) : var;
    running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + (double)momentum * mean[c]);
    running_var[c] = (float)((1.0 - momentum) * running_var[c] + (double)momentum * unbiased);
}

// Batch statistics from the per-block partials of a convolution epilogue (conv_fwd_v6_*_stats): parts
// [first, first + count) of [*, C] hold each block's column sum and sum of squares about the block's mean,
// over block_rows rows each. Combined in double with Chan's formula (M2 = Σ M2_b + n_b (mean_b − mean)²)
// in two steps: batchnorm_parts_chunk_f32 combines chunks of per_chunk partials (grid (⌈C/32⌉, chunks)),
// batchnorm_stats_chunks_f32 combines the chunks and writes rstd and the running statistics exactly as
// batchnorm_var_f32.

// Rows behind item i when items group `per` partials of block_rows rows out of `total`.
__device__ __forceinline__ double item_rows(int i, int per, int total, int block_rows) {
    return (double)(min(total, (i + 1) * per) - i * per) * block_rows;
}

// Σ sum_i and Σ (m2_i + n_i (sum_i / n_i − mean)²) over items [i0, i1) at channel c (mean: of those items).
template <typename T>
__device__ __forceinline__ void chan_combine(double& tsum, double& tm2, const T* sum, const T* m2, int i0, int i1,
                                             int per, int total, int block_rows, int C, int c) {
    double s = 0.0;
    if (c < C) {
#pragma unroll 4
        for (int i = i0 + threadIdx.y; i < i1; i += 8) s += (double)sum[(long long)i * C + c];
    }
    s = lane_sum(s);
    const double m = s / ((double)(min(total, i1 * per) - i0 * per) * block_rows);
    double q = 0.0;
    if (c < C) {
#pragma unroll 4
        for (int i = i0 + threadIdx.y; i < i1; i += 8) {
            const double ni = item_rows(i, per, total, block_rows);
            const double d = (double)sum[(long long)i * C + c] / ni - m;
            q += (double)m2[(long long)i * C + c] + ni * d * d;
        }
    }
    tsum = s;
    tm2 = lane_sum(q);
}

extern "C" __global__ void batchnorm_parts_chunk_f32(double* chunk_sum, double* chunk_m2, const float* part_sum,
                                                     const float* part_m2, int first, int count, int per_chunk,
                                                     int block_rows, int C) {
    const int c = blockIdx.x * 32 + threadIdx.x;
    const int g = blockIdx.y;
    const int i0 = g * per_chunk, i1 = min(count, i0 + per_chunk);
    double s, q;
    chan_combine(s, q, part_sum + (long long)first * C, part_m2 + (long long)first * C, i0, i1, 1, count,
                 block_rows, C, c);
    if (threadIdx.y == 0 && c < C) {
        chunk_sum[(long long)g * C + c] = s;
        chunk_m2[(long long)g * C + c] = q;
    }
}

extern "C" __global__ void batchnorm_stats_chunks_f32(float* mean, float* rstd, float* running_mean,
                                                      float* running_var, const double* chunk_sum,
                                                      const double* chunk_m2, int chunks, int per_chunk, int count,
                                                      int block_rows, int C, float eps, float momentum) {
    const int c = blockIdx.x * 32 + threadIdx.x;
    double s, m2;
    chan_combine(s, m2, chunk_sum, chunk_m2, 0, chunks, per_chunk, count, block_rows, C, c);
    if (threadIdx.y != 0 || c >= C) return;
    const double rows = (double)count * block_rows;
    const double m = s / rows;
    const double var = m2 / rows;
    mean[c] = (float)m;
    rstd[c] = (float)(1.0 / sqrt(var + (double)eps));
    const double unbiased = rows > 1 ? var * rows / (rows - 1.0) : var;
    running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + (double)momentum * (float)m);
    running_var[c] = (float)((1.0 - momentum) * running_var[c] + (double)momentum * unbiased);
}

extern "C" __global__ void batchnorm_eval_rstd_f32(float* rstd, const float* running_var, int C, float eps) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c < C) rstd[c] = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
}

// bn(x) in the batch-norm apply and the fused tails, spelled out (sub, mul, fma, each rounded to nearest:
// the PTX NVRTC made of `(x - m) * rs * g + b` before, so the same bits), so that the v3 backward recomputes
// the ReLU mask of the stored output bit for bit (bn_relu_on), an SBN tail's shortcut equals the stored
// batch-norm output, and cusim computes what the GPU does.
__device__ __forceinline__ float bn_pre(float x, float m, float rs, float g, float b) {
    return __fmaf_rn(__fmul_rn(__fsub_rn(x, m), rs), g, b);
}
extern "C" __global__ void batchnorm_apply_f32(float* y, const float* x, const float* mean, const float* rstd,
                                               const float* gamma, const float* beta, long long rows, int C) {
    const long long total = rows * C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int c = i % C;
        y[i] = bn_pre(x[i], mean[c], rstd[c], gamma[c], beta[c]);
    }
}

// ggamma = Σ gy·x̂, gbeta = Σ gy (block (32, 8), as batchnorm_mean_f32)
extern "C" __global__ void batchnorm_bwd_reduce_f32(float* ggamma, float* gbeta, const float* part_g,
                                                   const float* part_gx, int parts, int C) {
    const int c = blockIdx.x * 32 + threadIdx.x;
    const double a = parts_sum(part_g, parts, C, c);
    const double b = parts_sum(part_gx, parts, C, c);
    if (threadIdx.y != 0 || c >= C) return;
    gbeta[c] = (float)a;
    ggamma[c] = (float)b;
}

// gx = γ·rstd/n · (n·gy − Σgy − x̂·Σ(gy·x̂))
extern "C" __global__ void batchnorm_bwd_apply_f32(float* gx, const float* gy, const float* x, const float* mean,
                                                   const float* rstd, const float* gamma, const float* ggamma,
                                                   const float* gbeta, long long rows, int C) {
    const long long total = rows * C;
    const float inv_n = 1.0f / (float)rows;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int c = i % C;
        const float xh = (x[i] - mean[c]) * rstd[c];
        gx[i] = gamma[c] * rstd[c] * (gy[i] - inv_n * gbeta[c] - xh * inv_n * ggamma[c]);
    }
}

// ---------------------------------------------------------------------------------------------------
// v2: fused batch-norm tails (issue 5), validated on an H200 (2026-11-27). The statistics come from
// the kernels above; then ONE pass normalises, adds the shortcut (BN + add + ReLU), clamps and writes:
//   batchnorm_relu      y = relu(bn(x))           forward: batchnorm_relu_apply_f32
//   batchnorm_add_relu  y = relu(bn(x) + sc)      forward: batchnorm_add_relu_apply_f32
// Backward, with the ReLU mask taken from the stored output y (y > 0 exactly where the pre-activation
// was > 0): ONE reduction pass for Σg and Σg·x̂ over the masked gradient g = y > 0 ? gy : 0
// (batchnorm_relu_bwd_partial_f32, then batchnorm_bwd_reduce_f32 above), then ONE pass writing dx
// (batchnorm_relu_bwd_apply_f32) and, for the add variant, the shortcut gradient g as well
// (batchnorm_add_relu_bwd_apply_f32). The per-element arithmetic is written exactly as in
// batchnorm_apply_f32 / relu_fwd_f32 / add_f32 / batchnorm_bwd_apply_f32, so the fused forward gives the
// same bits as the unfused chain.
//
// vec = 1 (the launcher sets it when C % 4 == 0): a thread handles four consecutive channels, with float4
// loads and stores when every pointer is 16-byte aligned (checked here: views at odd offsets fall back to
// scalar accesses with the same thread layout); vec = 0: one channel per thread.

__device__ __forceinline__ bool bn_aligned16(const void* a, const void* b, const void* c, const void* d,
                                             const void* e, const void* f, const void* g, const void* h,
                                             const void* i, const void* j) {
    return ((reinterpret_cast<unsigned long long>(a) | reinterpret_cast<unsigned long long>(b) |
             reinterpret_cast<unsigned long long>(c) | reinterpret_cast<unsigned long long>(d) |
             reinterpret_cast<unsigned long long>(e) | reinterpret_cast<unsigned long long>(f) |
             reinterpret_cast<unsigned long long>(g) | reinterpret_cast<unsigned long long>(h) |
             reinterpret_cast<unsigned long long>(i) | reinterpret_cast<unsigned long long>(j)) &
            15ull) == 0;
}

template <int W, bool AL>
__device__ __forceinline__ void bn_ld(float (&d)[W], const float* p) {
    if constexpr (W == 4 && AL) {
        const float4 v = *reinterpret_cast<const float4*>(p);
        d[0] = v.x;
        d[1] = v.y;
        d[2] = v.z;
        d[3] = v.w;
    } else {
#pragma unroll
        for (int k = 0; k < W; ++k) d[k] = p[k];
    }
}

template <int W, bool AL>
__device__ __forceinline__ void bn_st(float* p, const float (&d)[W]) {
    if constexpr (W == 4 && AL) {
        *reinterpret_cast<float4*>(p) = make_float4(d[0], d[1], d[2], d[3]);
    } else {
#pragma unroll
        for (int k = 0; k < W; ++k) p[k] = d[k];
    }
}

// The batch norm's input x, stored fp32 or (x16, the v6 convolution's bf16 output) bf16, as floats; AL for
// bf16 means 8-byte alignment (a 4-channel vector in one load).
template <int W, bool AL>
__device__ __forceinline__ void bn_ld_x(float (&d)[W], const float* p) {
    bn_ld<W, AL>(d, p);
}
template <int W, bool AL>
__device__ __forceinline__ void bn_ld_x(float (&d)[W], const unsigned short* p) {
    if constexpr (W == 4 && AL) {
        const uint2 v = *reinterpret_cast<const uint2*>(p);
        d[0] = __uint_as_float(v.x << 16);
        d[1] = __uint_as_float(v.x & 0xFFFF0000u);
        d[2] = __uint_as_float(v.y << 16);
        d[3] = __uint_as_float(v.y & 0xFFFF0000u);
    } else {
#pragma unroll
        for (int k = 0; k < W; ++k) d[k] = __uint_as_float((unsigned)p[k] << 16);
    }
}
__device__ __forceinline__ bool bn_aligned8(const void* p) {
    return (reinterpret_cast<unsigned long long>(p) & 7ull) == 0;
}

// Grid-stride walk over the rows·C/W element vectors of [rows, C]: body(v, c0) for element vector v
// (elements v·W .. v·W + W − 1, first channel c0). A thread's channel vector advances by the fixed step
// (grid stride mod C/W) each iteration, so the loop has no 64-bit division.
template <int W, class F>
__device__ __forceinline__ void bn_for_each_vec(long long rows, int C, F&& body) {
    const int vpr = C / W;
    const long long n = rows * vpr;
    const long long stride = (long long)gridDim.x * blockDim.x;
    long long v = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (v >= n) return;
    int cv = (int)(v % vpr);
    const int step = (int)(stride % vpr);
    for (; v < n; v += stride) {
        body(v, cv * W);
        cv += step;
        if (cv >= vpr) cv -= vpr;
    }
}

// As bn_for_each_vec, but every lane of a warp takes every iteration, body(v, c0, in) with in = v < n, so
// that a warp's ballots see all 32 lanes (blockDim a multiple of 32; a warp wholly past n returns).
template <int W, class F>
__device__ __forceinline__ void bn_for_each_vec_warp(long long rows, int C, F&& body) {
    const int vpr = C / W;
    const long long n = rows * vpr;
    const long long stride = (long long)gridDim.x * blockDim.x;
    long long v = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long lane0 = v - (threadIdx.x & 31);
    if (lane0 >= n) return;
    int cv = (int)(v % vpr);
    const int step = (int)(stride % vpr);
    for (long long w = lane0; w < n; w += stride, v += stride) {
        body(v, cv * W, v < n);
        cv += step;
        if (cv >= vpr) cv -= vpr;
    }
}

// The residual tail's ReLU mask as bits (v3): the forward writes them, both backward passes read them
// instead of y (1/32 of its bytes). Over a launch's [rows, C] with C % 4 == 0, element vector v (elements
// 4v .. 4v + 3) owns bit v % 32 of the four words 4 (v / 32) + k, k = 0..3: a warp's four ballots are
// whole words, and a thread reads its four bits from one 16-byte load (broadcast across the 32 vectors).
__device__ __forceinline__ uint4 bn_mask_words(const unsigned* mask, long long v) {
    return *reinterpret_cast<const uint4*>(mask + 4 * (v >> 5));
}
__device__ __forceinline__ bool bn_mask_on(const uint4& w, long long v, int k) {
    const unsigned b = k == 0 ? w.x : k == 1 ? w.y : k == 2 ? w.z : w.w;
    return (b >> (v & 31)) & 1u;
}

// Stores a vector of outputs as bf16 (round to nearest even) when the tail also writes the bf16 copy that
// the v6 convolutions read: one 8-byte store when aligned, else element-wise.
template <int W>
__device__ __forceinline__ void bn_st_bf16(unsigned short* p, const float (&d)[W], bool al8) {
    if constexpr (W == 4) {
        if (al8) {
            *reinterpret_cast<uint2*>(p) = make_uint2(pack_bf16x2(d[0], d[1]), pack_bf16x2(d[2], d[3]));
            return;
        }
    }
#pragma unroll
    for (int k = 0; k < W; ++k) {
        unsigned short h;
        asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(d[k]));
        p[k] = h;
    }
}

__device__ __forceinline__ bool bn_relu_on(float x, float m, float rs, float g, float b) {
    return bn_pre(x, m, rs, g, b) > 0.0f;
}

// A batch norm's per-channel statistics and parameters: the one a projection shortcut's convolution output
// passes through before the residual add, which the SBN tails apply on the fly (its output never stored).
struct BnAff {
    const float* mean;
    const float* rstd;
    const float* gamma;
    const float* beta;
};

template <class T>
struct bn_same {  // a parameter type that takes no part in deduction (sc may be nullptr)
    using type = T;
};

// MB (v3 residual tail, W = 4): also the mask bits of the output (bn_mask_words). XT / ST: the element of x /
// sc (float, or bf16 bits: the `_x16` / `_s16` kernels; AL then means 8-byte alignment for them). SBN: sc is
// a projection shortcut's convolution output and its batch norm `sa` is applied to it first (bn_pre, as
// `batchnorm_apply_f32` computes it, so the sum is the unfused chain's bit for bit).
template <int W, bool AL, bool ADD, bool MB = false, class XT = float, class ST = float, bool SBN = false>
__device__ __forceinline__ void bn_relu_apply(float* __restrict__ y, unsigned short* __restrict__ yb,
                                              const XT* __restrict__ x,
                                              const typename bn_same<ST>::type* __restrict__ sc,
                                              const float* __restrict__ mean,
                                              const float* __restrict__ rstd, const float* __restrict__ gamma,
                                              const float* __restrict__ beta, long long rows, int C,
                                              unsigned* __restrict__ mask = nullptr, BnAff sa = {}) {
    static_assert(!SBN || ADD, "a shortcut's batch norm needs the shortcut");
    const bool yb_al8 = (reinterpret_cast<unsigned long long>(yb) & 7ull) == 0;
    const auto one = [&](long long v, int c0, float (&out)[W]) {
        float xv[W], sv[W], m[W], rs[W], g[W], b[W];
        bn_ld_x<W, AL>(xv, x + v * W);
        if (ADD) bn_ld_x<W, AL>(sv, sc + v * W);
        if constexpr (SBN) {
            float sm[W], sr[W], sg[W], sb[W];
            bn_ld<W, AL>(sm, sa.mean + c0);
            bn_ld<W, AL>(sr, sa.rstd + c0);
            bn_ld<W, AL>(sg, sa.gamma + c0);
            bn_ld<W, AL>(sb, sa.beta + c0);
#pragma unroll
            for (int k = 0; k < W; ++k) sv[k] = bn_pre(sv[k], sm[k], sr[k], sg[k], sb[k]);
        }
        bn_ld<W, AL>(m, mean + c0);
        bn_ld<W, AL>(rs, rstd + c0);
        bn_ld<W, AL>(g, gamma + c0);
        bn_ld<W, AL>(b, beta + c0);
#pragma unroll
        for (int k = 0; k < W; ++k) {
            float t = bn_pre(xv[k], m[k], rs[k], g[k], b[k]);
            if (ADD) t = t + sv[k];
            out[k] = t > 0.0f ? t : 0.0f;
        }
        if (y) bn_st<W, AL>(y + v * W, out);
        if (yb) bn_st_bf16<W>(yb + v * W, out, yb_al8);
    };
    if constexpr (MB) {
        static_assert(W == 4, "mask bits cover 4-channel vectors");
        bn_for_each_vec_warp<W>(rows, C, [&](long long v, int c0, bool in) {
            float out[W] = {0.0f, 0.0f, 0.0f, 0.0f};
            if (in) one(v, c0, out);
            unsigned b[4];
#pragma unroll
            for (int k = 0; k < 4; ++k) b[k] = __ballot_sync(0xffffffffu, in && out[k] > 0.0f);
            // mask may be null: an SBN tail outside a training forward
            if ((threadIdx.x & 31) == 0 && mask)
                *reinterpret_cast<uint4*>(mask + 4 * (v >> 5)) = make_uint4(b[0], b[1], b[2], b[3]);
        });
    } else {
        bn_for_each_vec<W>(rows, C, [&](long long v, int c0) {
            float out[W];
            one(v, c0, out);
        });
    }
}

// yb (may be null): also write bf16(y), the copy the v6 convolutions read, in the same pass; y may then be
// null (only the copy: its convolutions read nothing else and the v3 backward takes its mask from x).
extern "C" __global__ void batchnorm_relu_apply_f32(float* y, unsigned short* yb, const float* x, const float* mean,
                                                    const float* rstd, const float* gamma, const float* beta,
                                                    long long rows, int C, int vec) {
    if (!vec)
        bn_relu_apply<1, false, false>(y, yb, x, nullptr, mean, rstd, gamma, beta, rows, C);
    else if (bn_aligned16(y, x, mean, rstd, gamma, beta, y, y, y, y))
        bn_relu_apply<4, true, false>(y, yb, x, nullptr, mean, rstd, gamma, beta, rows, C);
    else
        bn_relu_apply<4, false, false>(y, yb, x, nullptr, mean, rstd, gamma, beta, rows, C);
}

// v3 of the residual tail's forward: v2's, plus the output's ReLU mask as bits (bn_mask_words) for the v3
// backward. vec = 1 only (C % 4 == 0; the launcher keeps v2 otherwise).
extern "C" __global__ void batchnorm_add_relu_apply_v3_f32(float* y, unsigned short* yb, unsigned* mask,
                                                           const float* x, const float* sc, const float* mean,
                                                           const float* rstd, const float* gamma,
                                                           const float* beta, long long rows, int C, int vec) {
    if (!vec) __trap();
    if (bn_aligned16(y, x, sc, mean, rstd, gamma, beta, y, y, y))
        bn_relu_apply<4, true, true, true>(y, yb, x, sc, mean, rstd, gamma, beta, rows, C, mask);
    else
        bn_relu_apply<4, false, true, true>(y, yb, x, sc, mean, rstd, gamma, beta, rows, C, mask);
}

extern "C" __global__ void batchnorm_add_relu_apply_f32(float* y, unsigned short* yb, const float* x, const float* sc,
                                                        const float* mean, const float* rstd, const float* gamma,
                                                        const float* beta, long long rows, int C, int vec) {
    if (!vec)
        bn_relu_apply<1, false, true>(y, yb, x, sc, mean, rstd, gamma, beta, rows, C);
    else if (bn_aligned16(y, x, sc, mean, rstd, gamma, beta, y, y, y))
        bn_relu_apply<4, true, true>(y, yb, x, sc, mean, rstd, gamma, beta, rows, C);
    else
        bn_relu_apply<4, false, true>(y, yb, x, sc, mean, rstd, gamma, beta, rows, C);
}

// Block of 256 threads as tx (TX channel vectors of W channels) × ty (256/TX row lanes); blockIdx.x picks
// a chunk of TX channel vectors, blockIdx.y a chunk of rows_per_block rows. TX is a power of two ≤ 256
// (the launcher picks it from C/W, so small C such as 16 still reads whole 128-byte lines per warp).
// Writes per-block Σg and Σg·x̂ for the block's rows, g = y > 0 ? gy : 0.
// MASK_X (v3): the mask from x, γ and β (bn_relu_on) instead of y, which is then not read (y may be null).
// MB (v3 residual tail, W = 4): the mask from the forward's bits (bn_mask_words), y not read.
// SBN: also per-block Σg·x̂s into part_gs, x̂s the projection shortcut's normalised input sc under `sa`
// (the second batch norm's Σg is the first's).
template <int W, bool AL, bool MASK_X = false, bool MB = false, class XT = float, class GT = float,
          bool SBN = false, class ST = float>
__device__ __forceinline__ void bn_relu_bwd_partial(float* __restrict__ part_g, float* __restrict__ part_gx,
                                                    const GT* __restrict__ gy, const float* __restrict__ y,
                                                    const XT* __restrict__ x, const float* __restrict__ mean,
                                                    const float* __restrict__ rstd, int rows, int C,
                                                    int rows_per_block, int TX, float* sg, float* sx,
                                                    const float* __restrict__ gamma = nullptr,
                                                    const float* __restrict__ beta = nullptr,
                                                    const unsigned* __restrict__ mbits = nullptr,
                                                    const ST* __restrict__ sc = nullptr, BnAff sa = {},
                                                    float* __restrict__ part_gs = nullptr, float* ss = nullptr) {
    const int vpr = C / W;
    const int TY = 256 / TX;
    const int tx = threadIdx.x % TX, ty = threadIdx.x / TX;
    const int cv = blockIdx.x * TX + tx;
    const int r0 = blockIdx.y * rows_per_block;
    const int r1 = min(rows, r0 + rows_per_block);
    float a[W], b[W], e[W];
#pragma unroll
    for (int k = 0; k < W; ++k) a[k] = b[k] = e[k] = 0.0f;
    if (cv < vpr) {
        float m[W], rs[W], ga[W], be[W], sm[W], sr[W];
        bn_ld<W, AL>(m, mean + cv * W);
        bn_ld<W, AL>(rs, rstd + cv * W);
        if (SBN) {
            bn_ld<W, AL>(sm, sa.mean + cv * W);
            bn_ld<W, AL>(sr, sa.rstd + cv * W);
        }
        if (MASK_X) {
            bn_ld<W, AL>(ga, gamma + cv * W);
            bn_ld<W, AL>(be, beta + cv * W);
        }
        for (int r = r0 + ty; r < r1; r += TY) {
            const long long off = (long long)r * C + cv * W;
            float gv[W], yv[W], xv[W], sv[W];
            uint4 mw;
            bn_ld_x<W, AL>(gv, gy + off);
            if (MB) mw = bn_mask_words(mbits, (long long)r * vpr + cv);
            if (!MASK_X && !MB) bn_ld<W, AL>(yv, y + off);
            bn_ld_x<W, AL>(xv, x + off);
            if (SBN) bn_ld_x<W, AL>(sv, sc + off);
#pragma unroll
            for (int k = 0; k < W; ++k) {
                const bool on = MB       ? bn_mask_on(mw, (long long)r * vpr + cv, k)
                                : MASK_X ? bn_relu_on(xv[k], m[k], rs[k], ga[k], be[k])
                                         : yv[k] > 0.0f;
                const float g = on ? gv[k] : 0.0f;
                a[k] += g;
                b[k] += g * (xv[k] - m[k]) * rs[k];
                if (SBN) e[k] += g * (sv[k] - sm[k]) * sr[k];
            }
        }
    }
#pragma unroll
    for (int k = 0; k < W; ++k) {
        sg[k * 256 + threadIdx.x] = a[k];
        sx[k * 256 + threadIdx.x] = b[k];
        if (SBN) ss[k * 256 + threadIdx.x] = e[k];
    }
    __syncthreads();
    // Output o = (k, tx'): the sum over the TY row lanes of channel (blockIdx.x·TX + tx')·W + k.
    for (int o = threadIdx.x; o < TX * W; o += 256) {
        const int otx = o % TX, k = o / TX;
        const int ocv = blockIdx.x * TX + otx;
        if (ocv >= vpr) continue;
        float ta = 0.0f, tb = 0.0f, te = 0.0f;
        for (int j = 0; j < TY; ++j) {
            ta += sg[k * 256 + j * TX + otx];
            tb += sx[k * 256 + j * TX + otx];
            if (SBN) te += ss[k * 256 + j * TX + otx];
        }
        const long long at = (long long)blockIdx.y * C + ocv * W + k;
        part_g[at] = ta;
        part_gx[at] = tb;
        if (SBN) part_gs[at] = te;
    }
}

extern "C" __global__ void batchnorm_relu_bwd_partial_f32(float* part_g, float* part_gx, const float* gy,
                                                          const float* y, const float* x, const float* mean,
                                                          const float* rstd, int rows, int C, int rows_per_block,
                                                          int TX, int vec) {
    // One pair of [4][256] arrays for the three instantiations (declared inside each, they would add up).
    __shared__ float sg[4 * 256];
    __shared__ float sx[4 * 256];
    if (!vec)
        bn_relu_bwd_partial<1, false>(part_g, part_gx, gy, y, x, mean, rstd, rows, C, rows_per_block, TX, sg, sx);
    else if (bn_aligned16(gy, y, x, mean, rstd, gy, gy, gy, gy, gy))
        bn_relu_bwd_partial<4, true>(part_g, part_gx, gy, y, x, mean, rstd, rows, C, rows_per_block, TX, sg, sx);
    else
        bn_relu_bwd_partial<4, false>(part_g, part_gx, gy, y, x, mean, rstd, rows, C, rows_per_block, TX, sg, sx);
}

// gx = γ·rstd/n · (n·g − Σg − x̂·Σ(g·x̂)) with g = y > 0 ? gy : 0; ADD: the shortcut gradient is g
// (written, or added to gsc when acc_sc != 0: the shortcut's gradient already holds another consumer's).
// MB (v3 residual tail, W = 4): the mask from the forward's bits (bn_mask_words), y not read.
// SBN: gsc is the gradient of the projection shortcut's convolution output sc through its batch norm `sa`
// (Σg = gbeta, Σg·x̂s = sggamma), written (acc_sc = 0).
template <int W, bool AL, bool ADD, bool MASK_X = false, bool MB = false, class XT = float, class GT = float,
          bool SBN = false, class ST = float>
__device__ __forceinline__ void bn_relu_bwd_apply(float* __restrict__ gx, float* __restrict__ gsc,
                                                  const GT* __restrict__ gy, const float* __restrict__ y,
                                                  const XT* __restrict__ x, const float* __restrict__ mean,
                                                  const float* __restrict__ rstd, const float* __restrict__ gamma,
                                                  const float* __restrict__ ggamma, const float* __restrict__ gbeta,
                                                  long long rows, int C, int acc_sc,
                                                  const float* __restrict__ beta = nullptr,
                                                  unsigned short* __restrict__ gxb = nullptr,
                                                  const unsigned* __restrict__ mbits = nullptr,
                                                  const ST* __restrict__ sc = nullptr, BnAff sa = {},
                                                  const float* __restrict__ sggamma = nullptr) {
    static_assert(!(ADD && MASK_X), "relu(bn(x) + sc) needs sc or y for its mask");
    static_assert(!SBN || ADD, "a shortcut's batch norm needs the shortcut");
    const float inv_n = 1.0f / (float)rows;
    const bool gxb_al8 = (reinterpret_cast<unsigned long long>(gxb) & 7ull) == 0;
    bn_for_each_vec<W>(rows, C, [&](long long v, int c0) {
        float gv[W], yv[W], xv[W], m[W], rs[W], ga[W], gg[W], gb[W], out[W], gs[W], be[W];
        uint4 mw;
        bn_ld_x<W, AL>(gv, gy + v * W);
        if (MB) mw = bn_mask_words(mbits, v);
        if (!MASK_X && !MB) bn_ld<W, AL>(yv, y + v * W);
        if (MASK_X) bn_ld<W, AL>(be, beta + c0);
        bn_ld_x<W, AL>(xv, x + v * W);
        bn_ld<W, AL>(m, mean + c0);
        bn_ld<W, AL>(rs, rstd + c0);
        bn_ld<W, AL>(ga, gamma + c0);
        bn_ld<W, AL>(gg, ggamma + c0);
        bn_ld<W, AL>(gb, gbeta + c0);
        if (ADD && acc_sc) bn_ld<W, AL>(gs, gsc + v * W);
        float sv[W], sm[W], sr[W], sga[W], sgg[W];
        if constexpr (SBN) {
            bn_ld_x<W, AL>(sv, sc + v * W);
            bn_ld<W, AL>(sm, sa.mean + c0);
            bn_ld<W, AL>(sr, sa.rstd + c0);
            bn_ld<W, AL>(sga, sa.gamma + c0);
            bn_ld<W, AL>(sgg, sggamma + c0);
        }
#pragma unroll
        for (int k = 0; k < W; ++k) {
            const bool on = MB       ? bn_mask_on(mw, v, k)
                            : MASK_X ? bn_relu_on(xv[k], m[k], rs[k], ga[k], be[k])
                                     : yv[k] > 0.0f;
            const float g = on ? gv[k] : 0.0f;
            const float xh = (xv[k] - m[k]) * rs[k];
            out[k] = ga[k] * rs[k] * (g - inv_n * gb[k] - xh * inv_n * gg[k]);
            if constexpr (SBN) {
                const float xs = (sv[k] - sm[k]) * sr[k];
                gs[k] = sga[k] * sr[k] * (g - inv_n * gb[k] - xs * inv_n * sgg[k]);
            } else if (ADD) {
                gs[k] = acc_sc ? gs[k] + g : g;
            }
        }
        if (gx) bn_st<W, AL>(gx + v * W, out);
        if (gxb) bn_st_bf16<W>(gxb + v * W, out, gxb_al8);
        if (ADD) bn_st<W, AL>(gsc + v * W, gs);
    });
}

extern "C" __global__ void batchnorm_relu_bwd_apply_f32(float* gx, const float* gy, const float* y, const float* x,
                                                        const float* mean, const float* rstd, const float* gamma,
                                                        const float* ggamma, const float* gbeta, long long rows,
                                                        int C, int vec) {
    if (!vec)
        bn_relu_bwd_apply<1, false, false>(gx, nullptr, gy, y, x, mean, rstd, gamma, ggamma, gbeta, rows, C, 0);
    else if (bn_aligned16(gx, gy, y, x, mean, rstd, gamma, ggamma, gbeta, gx))
        bn_relu_bwd_apply<4, true, false>(gx, nullptr, gy, y, x, mean, rstd, gamma, ggamma, gbeta, rows, C, 0);
    else
        bn_relu_bwd_apply<4, false, false>(gx, nullptr, gy, y, x, mean, rstd, gamma, ggamma, gbeta, rows, C, 0);
}

extern "C" __global__ void batchnorm_add_relu_bwd_apply_f32(float* gx, float* gsc, const float* gy, const float* y,
                                                            const float* x, const float* mean, const float* rstd,
                                                            const float* gamma, const float* ggamma,
                                                            const float* gbeta, long long rows, int C, int acc_sc,
                                                            int vec) {
    if (!vec)
        bn_relu_bwd_apply<1, false, true>(gx, gsc, gy, y, x, mean, rstd, gamma, ggamma, gbeta, rows, C, acc_sc);
    else if (bn_aligned16(gx, gsc, gy, y, x, mean, rstd, gamma, ggamma, gbeta))
        bn_relu_bwd_apply<4, true, true>(gx, gsc, gy, y, x, mean, rstd, gamma, ggamma, gbeta, rows, C, acc_sc);
    else
        bn_relu_bwd_apply<4, false, true>(gx, gsc, gy, y, x, mean, rstd, gamma, ggamma, gbeta, rows, C, acc_sc);
}

// v3 of the tails' backward. BN+ReLU: the ReLU mask recomputed from x, γ and β (bn_relu_on) instead of
// read from y, one fp32 tensor less per pass (it reads gy and x, then gy and x again and writes gx). Both
// apply kernels also write gxb = bf16(gx) when given (may be null), the copy of the gradient that the v6
// convolution before them reads, saving its cast pass; gx may then be null (not written) where that
// convolution reads nothing else.
extern "C" __global__ void batchnorm_relu_bwd_partial_v3_f32(float* part_g, float* part_gx, const float* gy,
                                                             const float* x, const float* mean, const float* rstd,
                                                             const float* gamma, const float* beta, int rows, int C,
                                                             int rows_per_block, int TX, int vec) {
    __shared__ float sg[4 * 256];
    __shared__ float sx[4 * 256];
    if (!vec)
        bn_relu_bwd_partial<1, false, true>(part_g, part_gx, gy, nullptr, x, mean, rstd, rows, C, rows_per_block,
                                            TX, sg, sx, gamma, beta);
    else if (bn_aligned16(gy, x, mean, rstd, gamma, beta, gy, gy, gy, gy))
        bn_relu_bwd_partial<4, true, true>(part_g, part_gx, gy, nullptr, x, mean, rstd, rows, C, rows_per_block,
                                           TX, sg, sx, gamma, beta);
    else
        bn_relu_bwd_partial<4, false, true>(part_g, part_gx, gy, nullptr, x, mean, rstd, rows, C, rows_per_block,
                                            TX, sg, sx, gamma, beta);
}

extern "C" __global__ void batchnorm_relu_bwd_apply_v3_f32(float* gx, unsigned short* gxb, const float* gy,
                                                           const float* x, const float* mean, const float* rstd,
                                                           const float* gamma, const float* beta,
                                                           const float* ggamma, const float* gbeta, long long rows,
                                                           int C, int vec) {
    if (!vec)
        bn_relu_bwd_apply<1, false, false, true>(gx, nullptr, gy, nullptr, x, mean, rstd, gamma, ggamma, gbeta,
                                                 rows, C, 0, beta, gxb);
    else if (bn_aligned16(gx, gy, x, mean, rstd, gamma, beta, ggamma, gbeta, gx))
        bn_relu_bwd_apply<4, true, false, true>(gx, nullptr, gy, nullptr, x, mean, rstd, gamma, ggamma, gbeta,
                                                rows, C, 0, beta, gxb);
    else
        bn_relu_bwd_apply<4, false, false, true>(gx, nullptr, gy, nullptr, x, mean, rstd, gamma, ggamma, gbeta,
                                                 rows, C, 0, beta, gxb);
}

// v3 of the residual tail's backward sums: the mask from the forward's bits (y not read); vec = 1 only.
extern "C" __global__ void batchnorm_add_relu_bwd_partial_v3_f32(float* part_g, float* part_gx, const float* gy,
                                                                 const unsigned* mask, const float* x,
                                                                 const float* mean, const float* rstd, int rows,
                                                                 int C, int rows_per_block, int TX, int vec) {
    __shared__ float sg[4 * 256];
    __shared__ float sx[4 * 256];
    if (!vec) __trap();
    if (bn_aligned16(gy, x, mean, rstd, gy, gy, gy, gy, gy, gy))
        bn_relu_bwd_partial<4, true, false, true>(part_g, part_gx, gy, nullptr, x, mean, rstd, rows, C,
                                                  rows_per_block, TX, sg, sx, nullptr, nullptr, mask);
    else
        bn_relu_bwd_partial<4, false, false, true>(part_g, part_gx, gy, nullptr, x, mean, rstd, rows, C,
                                                   rows_per_block, TX, sg, sx, nullptr, nullptr, mask);
}

// v3 of the residual tail's backward: v2's with gxb = bf16(gx) written when given, and the mask from the
// forward's bits when `mask` is given (vec = 1), else from y.
extern "C" __global__ void batchnorm_add_relu_bwd_apply_v3_f32(float* gx, unsigned short* gxb, float* gsc,
                                                               const float* gy, const float* y, const unsigned* mask,
                                                               const float* x, const float* mean, const float* rstd,
                                                               const float* gamma, const float* ggamma,
                                                               const float* gbeta, long long rows, int C, int acc_sc,
                                                               int vec) {
    if (mask) {
        if (!vec) __trap();
        if (bn_aligned16(gx, gsc, gy, x, mean, rstd, gamma, ggamma, gbeta, gx))
            bn_relu_bwd_apply<4, true, true, false, true>(gx, gsc, gy, nullptr, x, mean, rstd, gamma, ggamma, gbeta,
                                                          rows, C, acc_sc, nullptr, gxb, mask);
        else
            bn_relu_bwd_apply<4, false, true, false, true>(gx, gsc, gy, nullptr, x, mean, rstd, gamma, ggamma,
                                                           gbeta, rows, C, acc_sc, nullptr, gxb, mask);
    } else if (!vec)
        bn_relu_bwd_apply<1, false, true>(gx, gsc, gy, y, x, mean, rstd, gamma, ggamma, gbeta, rows, C, acc_sc,
                                          nullptr, gxb);
    else if (bn_aligned16(gx, gsc, gy, y, x, mean, rstd, gamma, ggamma, gbeta))
        bn_relu_bwd_apply<4, true, true>(gx, gsc, gy, y, x, mean, rstd, gamma, ggamma, gbeta, rows, C, acc_sc,
                                         nullptr, gxb);
    else
        bn_relu_bwd_apply<4, false, true>(gx, gsc, gy, y, x, mean, rstd, gamma, ggamma, gbeta, rows, C, acc_sc,
                                          nullptr, gxb);
}

// ---------------------------------------------------------------------------------------------------
// x16 (the tails of IPDPP_BN_TAIL=v4): v3's tails with the batch norm's input x read as bf16, the form in
// which conv v6 stores its output in a training forward (ConvDims::out16; the statistics come from that
// epilogue, over the rounded values). Half the bytes of x in each of the three passes that read it. The
// arithmetic is v3's on the widened values, so each equals v3 run on an fp32 x holding the bf16 values,
// bit for bit. C % 4 == 0 only (vec = 1); the 4-channel vectors of x load as 8 bytes where aligned.
extern "C" __global__ void batchnorm_relu_apply_x16(float* y, unsigned short* yb, const unsigned short* x,
                                                    const float* mean, const float* rstd, const float* gamma,
                                                    const float* beta, long long rows, int C) {
    if (bn_aligned16(y, mean, rstd, gamma, beta, y, y, y, y, y) && bn_aligned8(x))
        bn_relu_apply<4, true, false, false, unsigned short>(y, yb, x, nullptr, mean, rstd, gamma, beta, rows, C);
    else
        bn_relu_apply<4, false, false, false, unsigned short>(y, yb, x, nullptr, mean, rstd, gamma, beta, rows, C);
}

extern "C" __global__ void batchnorm_add_relu_apply_x16(float* y, unsigned short* yb, unsigned* mask,
                                                        const unsigned short* x, const float* sc, const float* mean,
                                                        const float* rstd, const float* gamma, const float* beta,
                                                        long long rows, int C) {
    if (bn_aligned16(y, sc, mean, rstd, gamma, beta, y, y, y, y) && bn_aligned8(x))
        bn_relu_apply<4, true, true, true, unsigned short>(y, yb, x, sc, mean, rstd, gamma, beta, rows, C, mask);
    else
        bn_relu_apply<4, false, true, true, unsigned short>(y, yb, x, sc, mean, rstd, gamma, beta, rows, C, mask);
}

// s16 (the tails of IPDPP_BN_TAIL=v6): the residual tail with its identity shortcut read as bf16, the copy of
// the block input that the block's first convolution reads (written by the tail before it), so that tail
// need not store the fp32 block output at all where nothing else reads it (half the shortcut's bytes here,
// and its whole fp32 store). On x as bf16 (`_x16_s16`) or fp32 (`_v3_s16`); the mask bits always (C % 4 ==
// 0). The shortcut is rounded to bf16 as autocast rounds it, so close to v5, not equal.
extern "C" __global__ void batchnorm_add_relu_apply_x16_s16(float* y, unsigned short* yb, unsigned* mask,
                                                            const unsigned short* x, const unsigned short* sc,
                                                            const float* mean, const float* rstd, const float* gamma,
                                                            const float* beta, long long rows, int C) {
    if (bn_aligned16(y, mean, rstd, gamma, beta, y, y, y, y, y) && bn_aligned8(x) && bn_aligned8(sc))
        bn_relu_apply<4, true, true, true, unsigned short, unsigned short>(y, yb, x, sc, mean, rstd, gamma, beta,
                                                                          rows, C, mask);
    else
        bn_relu_apply<4, false, true, true, unsigned short, unsigned short>(y, yb, x, sc, mean, rstd, gamma, beta,
                                                                           rows, C, mask);
}
extern "C" __global__ void batchnorm_add_relu_apply_v3_s16(float* y, unsigned short* yb, unsigned* mask,
                                                           const float* x, const unsigned short* sc,
                                                           const float* mean, const float* rstd, const float* gamma,
                                                           const float* beta, long long rows, int C) {
    // AL covers both element types: x and y 16-byte aligned, sc 8-byte (bn_ld_x's vector loads)
    if (bn_aligned16(y, x, mean, rstd, gamma, beta, y, y, y, y) && bn_aligned8(sc))
        bn_relu_apply<4, true, true, true, float, unsigned short>(y, yb, x, sc, mean, rstd, gamma, beta, rows, C,
                                                                  mask);
    else
        bn_relu_apply<4, false, true, true, float, unsigned short>(y, yb, x, sc, mean, rstd, gamma, beta, rows, C,
                                                                   mask);
}

extern "C" __global__ void batchnorm_relu_bwd_partial_x16(float* part_g, float* part_gx, const float* gy,
                                                          const unsigned short* x, const float* mean,
                                                          const float* rstd, const float* gamma, const float* beta,
                                                          int rows, int C, int rows_per_block, int TX) {
    __shared__ float sg[4 * 256];
    __shared__ float sx[4 * 256];
    if (bn_aligned16(gy, mean, rstd, gamma, beta, gy, gy, gy, gy, gy) && bn_aligned8(x))
        bn_relu_bwd_partial<4, true, true, false, unsigned short>(part_g, part_gx, gy, nullptr, x, mean, rstd, rows, C,
                                                                  rows_per_block, TX, sg, sx, gamma, beta);
    else
        bn_relu_bwd_partial<4, false, true, false, unsigned short>(part_g, part_gx, gy, nullptr, x, mean, rstd, rows,
                                                                   C, rows_per_block, TX, sg, sx, gamma, beta);
}

extern "C" __global__ void batchnorm_add_relu_bwd_partial_x16(float* part_g, float* part_gx, const float* gy,
                                                              const unsigned* mask, const unsigned short* x,
                                                              const float* mean, const float* rstd, int rows, int C,
                                                              int rows_per_block, int TX) {
    __shared__ float sg[4 * 256];
    __shared__ float sx[4 * 256];
    if (bn_aligned16(gy, mean, rstd, gy, gy, gy, gy, gy, gy, gy) && bn_aligned8(x))
        bn_relu_bwd_partial<4, true, false, true, unsigned short>(part_g, part_gx, gy, nullptr, x, mean, rstd, rows, C,
                                                                  rows_per_block, TX, sg, sx, nullptr, nullptr, mask);
    else
        bn_relu_bwd_partial<4, false, false, true, unsigned short>(part_g, part_gx, gy, nullptr, x, mean, rstd, rows,
                                                                   C, rows_per_block, TX, sg, sx, nullptr, nullptr,
                                                                   mask);
}

extern "C" __global__ void batchnorm_relu_bwd_apply_x16(float* gx, unsigned short* gxb, const float* gy,
                                                        const unsigned short* x, const float* mean, const float* rstd,
                                                        const float* gamma, const float* beta, const float* ggamma,
                                                        const float* gbeta, long long rows, int C) {
    if (bn_aligned16(gx, gy, mean, rstd, gamma, beta, ggamma, gbeta, gx, gx) && bn_aligned8(x))
        bn_relu_bwd_apply<4, true, false, true, false, unsigned short>(gx, nullptr, gy, nullptr, x, mean, rstd, gamma,
                                                                       ggamma, gbeta, rows, C, 0, beta, gxb);
    else
        bn_relu_bwd_apply<4, false, false, true, false, unsigned short>(gx, nullptr, gy, nullptr, x, mean, rstd, gamma,
                                                                        ggamma, gbeta, rows, C, 0, beta, gxb);
}

extern "C" __global__ void batchnorm_add_relu_bwd_apply_x16(float* gx, unsigned short* gxb, float* gsc,
                                                            const float* gy, const unsigned* mask,
                                                            const unsigned short* x, const float* mean,
                                                            const float* rstd, const float* gamma, const float* ggamma,
                                                            const float* gbeta, long long rows, int C, int acc_sc) {
    if (bn_aligned16(gx, gsc, gy, mean, rstd, gamma, ggamma, gbeta, gx, gx) && bn_aligned8(x))
        bn_relu_bwd_apply<4, true, true, false, true, unsigned short>(gx, gsc, gy, nullptr, x, mean, rstd, gamma,
                                                                      ggamma, gbeta, rows, C, acc_sc, nullptr, gxb,
                                                                      mask);
    else
        bn_relu_bwd_apply<4, false, true, false, true, unsigned short>(gx, gsc, gy, nullptr, x, mean, rstd, gamma,
                                                                       ggamma, gbeta, rows, C, acc_sc, nullptr, gxb,
                                                                       mask);
}

// g16 (IPDPP_BN_TAIL=v5): the BN+ReLU tail's backward with its upstream gradient gy read as bf16 as well,
// the form in which the v6 convolution after the tail stores its grad-input when it alone reads the tail's
// output (ConvDims::out16 on a stride-1 grad-input), on top of x16. Half the bytes of gy in both passes;
// equal to the x16 kernels run on an fp32 gy holding the bf16 values, bit for bit.
extern "C" __global__ void batchnorm_relu_bwd_partial_x16_g16(float* part_g, float* part_gx, const unsigned short* gy,
                                                              const unsigned short* x, const float* mean,
                                                              const float* rstd, const float* gamma, const float* beta,
                                                              int rows, int C, int rows_per_block, int TX) {
    __shared__ float sg[4 * 256];
    __shared__ float sx[4 * 256];
    if (bn_aligned16(mean, rstd, gamma, beta, mean, mean, mean, mean, mean, mean) && bn_aligned8(x) && bn_aligned8(gy))
        bn_relu_bwd_partial<4, true, true, false, unsigned short, unsigned short>(
            part_g, part_gx, gy, nullptr, x, mean, rstd, rows, C, rows_per_block, TX, sg, sx, gamma, beta);
    else
        bn_relu_bwd_partial<4, false, true, false, unsigned short, unsigned short>(
            part_g, part_gx, gy, nullptr, x, mean, rstd, rows, C, rows_per_block, TX, sg, sx, gamma, beta);
}

extern "C" __global__ void batchnorm_relu_bwd_apply_x16_g16(float* gx, unsigned short* gxb, const unsigned short* gy,
                                                            const unsigned short* x, const float* mean,
                                                            const float* rstd, const float* gamma, const float* beta,
                                                            const float* ggamma, const float* gbeta, long long rows,
                                                            int C) {
    if (bn_aligned16(gx, mean, rstd, gamma, beta, ggamma, gbeta, gx, gx, gx) && bn_aligned8(x) && bn_aligned8(gy))
        bn_relu_bwd_apply<4, true, false, true, false, unsigned short, unsigned short>(
            gx, nullptr, gy, nullptr, x, mean, rstd, gamma, ggamma, gbeta, rows, C, 0, beta, gxb);
    else
        bn_relu_bwd_apply<4, false, false, true, false, unsigned short, unsigned short>(
            gx, nullptr, gy, nullptr, x, mean, rstd, gamma, ggamma, gbeta, rows, C, 0, beta, gxb);
}

// ---------------------------------------------------------------------------------------------------
// SBN (IPDPP_SC_BN=1): the residual tail of a block with a projection shortcut, relu(bn(x) + bn_s(sc)) with sc
// the shortcut's 1×1 convolution output and bn_s its batch norm (statistics from that convolution's epilogue
// or two passes, computed before the tail): bn_s's output is never stored, and the backward gives sc's
// gradient through bn_s directly (one more per-channel sum, Σg·x̂s, in the tail's partial pass) instead of
// the shortcut gradient and a batch-norm backward over it (two passes reading it). The v3 residual tail's
// form: the ReLU mask bits, C % 4 == 0; x and sc each fp32 or bf16 (x16, sc16 != 0: the v4 / v5 tails, where
// the convolutions store their outputs as bf16 alone; each equals the fp32 kernel on the widened values bit
// for bit).
__device__ __forceinline__ bool bn_aff_aligned16(const BnAff& a) {
    return bn_aligned16(a.mean, a.rstd, a.gamma, a.beta, a.mean, a.mean, a.mean, a.mean, a.mean, a.mean);
}
// A [rows, C] operand's 4-channel vectors load whole: 16-byte aligned fp32, 8-byte aligned bf16.
__device__ __forceinline__ bool bn_vec_aligned(const float* p) {
    return bn_aligned16(p, p, p, p, p, p, p, p, p, p);
}
__device__ __forceinline__ bool bn_vec_aligned(const unsigned short* p) {
    return bn_aligned8(p);
}

// f(x, sc) with x and sc as their element types (fp32, or bf16 bits where x16 / sc16).
template <class F>
__device__ __forceinline__ void sbn_operands(const void* x, int x16, const void* sc, int sc16, F&& f) {
    const auto* xf = static_cast<const float*>(x);
    const auto* xb = static_cast<const unsigned short*>(x);
    const auto* sf = static_cast<const float*>(sc);
    const auto* sb = static_cast<const unsigned short*>(sc);
    if (x16) {
        if (sc16) f(xb, sb);
        else f(xb, sf);
    } else {
        if (sc16) f(xf, sb);
        else f(xf, sf);
    }
}

template <class XT, class ST>
__device__ __forceinline__ void sbn_apply(float* y, unsigned short* yb, unsigned* mask, const XT* x, const ST* sc,
                                          const float* mean, const float* rstd, const float* gamma, const float* beta,
                                          BnAff sa, long long rows, int C) {
    if (bn_aligned16(y, mean, rstd, gamma, beta, y, y, y, y, y) && bn_aff_aligned16(sa) && bn_vec_aligned(x) &&
        bn_vec_aligned(sc))
        bn_relu_apply<4, true, true, true, XT, ST, true>(y, yb, x, sc, mean, rstd, gamma, beta, rows, C, mask, sa);
    else
        bn_relu_apply<4, false, true, true, XT, ST, true>(y, yb, x, sc, mean, rstd, gamma, beta, rows, C, mask, sa);
}

extern "C" __global__ void batchnorm_add_relu_apply_sbn(float* y, unsigned short* yb, unsigned* mask, const void* x,
                                                        int x16, const void* sc, int sc16, const float* mean,
                                                        const float* rstd, const float* gamma, const float* beta,
                                                        const float* smean, const float* srstd, const float* sgamma,
                                                        const float* sbeta, long long rows, int C) {
    const BnAff sa = {smean, srstd, sgamma, sbeta};
    sbn_operands(x, x16, sc, sc16, [&](auto xp, auto sp) {
        sbn_apply(y, yb, mask, xp, sp, mean, rstd, gamma, beta, sa, rows, C);
    });
}

template <class XT, class ST>
__device__ __forceinline__ void sbn_partial(float* part_g, float* part_gx, float* part_gs, const float* gy,
                                            const unsigned* mask, const XT* x, const ST* sc, const float* mean,
                                            const float* rstd, BnAff sa, int rows, int C, int rows_per_block, int TX,
                                            float* sg, float* sx, float* ss) {
    if (bn_aligned16(gy, mean, rstd, sa.mean, sa.rstd, gy, gy, gy, gy, gy) && bn_vec_aligned(x) && bn_vec_aligned(sc))
        bn_relu_bwd_partial<4, true, false, true, XT, float, true, ST>(part_g, part_gx, gy, nullptr, x, mean, rstd,
                                                                       rows, C, rows_per_block, TX, sg, sx, nullptr,
                                                                       nullptr, mask, sc, sa, part_gs, ss);
    else
        bn_relu_bwd_partial<4, false, false, true, XT, float, true, ST>(part_g, part_gx, gy, nullptr, x, mean, rstd,
                                                                        rows, C, rows_per_block, TX, sg, sx, nullptr,
                                                                        nullptr, mask, sc, sa, part_gs, ss);
}

extern "C" __global__ void batchnorm_add_relu_bwd_partial_sbn(float* part_g, float* part_gx, float* part_gs,
                                                              const float* gy, const unsigned* mask, const void* x,
                                                              int x16, const void* sc, int sc16, const float* mean,
                                                              const float* rstd, const float* smean,
                                                              const float* srstd, int rows, int C,
                                                              int rows_per_block, int TX) {
    __shared__ float sg[4 * 256];
    __shared__ float sx[4 * 256];
    __shared__ float ss[4 * 256];
    const BnAff sa = {smean, srstd, smean, smean};
    sbn_operands(x, x16, sc, sc16, [&](auto xp, auto sp) {
        sbn_partial(part_g, part_gx, part_gs, gy, mask, xp, sp, mean, rstd, sa, rows, C, rows_per_block, TX, sg, sx,
                    ss);
    });
}

template <class XT, class ST>
__device__ __forceinline__ void sbn_bwd_apply(float* gx, unsigned short* gxb, float* gsc, const float* gy,
                                              const unsigned* mask, const XT* x, const ST* sc, const float* mean,
                                              const float* rstd, const float* gamma, const float* ggamma,
                                              const float* gbeta, BnAff sa, const float* sggamma, long long rows,
                                              int C) {
    if (bn_aligned16(gx, gsc, gy, mean, rstd, gamma, ggamma, gbeta, sggamma, gx) && bn_aff_aligned16(sa) &&
        bn_vec_aligned(x) && bn_vec_aligned(sc))
        bn_relu_bwd_apply<4, true, true, false, true, XT, float, true, ST>(
            gx, gsc, gy, nullptr, x, mean, rstd, gamma, ggamma, gbeta, rows, C, 0, nullptr, gxb, mask, sc, sa, sggamma);
    else
        bn_relu_bwd_apply<4, false, true, false, true, XT, float, true, ST>(
            gx, gsc, gy, nullptr, x, mean, rstd, gamma, ggamma, gbeta, rows, C, 0, nullptr, gxb, mask, sc, sa, sggamma);
}

// gsc: the gradient of sc, fp32 (written); gxb (may be null) and a null gx as the v3 residual apply's.
extern "C" __global__ void batchnorm_add_relu_bwd_apply_sbn(float* gx, unsigned short* gxb, float* gsc,
                                                            const float* gy, const unsigned* mask, const void* x,
                                                            int x16, const void* sc, int sc16, const float* mean,
                                                            const float* rstd, const float* gamma, const float* ggamma,
                                                            const float* gbeta, const float* smean, const float* srstd,
                                                            const float* sgamma, const float* sggamma, long long rows,
                                                            int C) {
    const BnAff sa = {smean, srstd, sgamma, sgamma};
    sbn_operands(x, x16, sc, sc16, [&](auto xp, auto sp) {
        sbn_bwd_apply(gx, gxb, gsc, gy, mask, xp, sp, mean, rstd, gamma, ggamma, gbeta, sa, sggamma, rows, C);
    });
}
