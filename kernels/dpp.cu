// targets: sm_80 sm_90
// The DPP kernel matrix from features (METHOD.md "Stage 2", qd-cosine / qd-rbf): a tiled Gram product
// F·Fᵀ over row-major [n, d] features, finished per entry as a cosine similarity (mode 0) or a squared
// Euclidean distance (mode 1). Quality scaling and the RBF exponential are applied on the host in f64.
// dpp_gram_f32 computes entry (i, j) and (j, i) with the same summation order, so the output is exactly
// symmetric. The CPU reference is gram_cpu in src/dpp/kernels.rs.
//   v1 dpp_gram_f32: 16 x 16 shared-memory tiles, one entry a thread.
//   v2 dpp_gram_sym_f32: the register tiles of igemm.cuh (gemm_v3's 128 x 128 block tile, 8 x 8 entries a
//      thread) over the tiles on and above the diagonal only.
#include "common.cuh"
#include "igemm.cuh"

// Entry (i, j) from the dot product of rows i and j: the cosine (mode 0; 1 on the diagonal, 0 where a row
// is zero) or the squared distance (mode 1; 0 on the diagonal, never below 0).
__device__ __forceinline__ float dpp_entry(float dot, const float* sqnorm, unsigned int i, unsigned int j, int mode) {
    if (mode == 0) {
        const float den = sqnorm[i] * sqnorm[j];
        if (den <= 0.0f) return 0.0f;
        return i == j ? 1.0f : dot * rsqrtf(den);
    }
    return i == j ? 0.0f : fmaxf(sqnorm[i] + sqnorm[j] - 2.0f * dot, 0.0f);
}

#define DPP_TILE 16

extern "C" __global__ void dpp_gram_f32(float* out, const float* f, const float* sqnorm, unsigned int n,
                                        unsigned int d, int mode) {
    __shared__ float a[DPP_TILE][DPP_TILE + 1];
    __shared__ float b[DPP_TILE][DPP_TILE + 1];
    const unsigned int tx = threadIdx.x, ty = threadIdx.y;
    const unsigned int i = blockIdx.y * DPP_TILE + ty;  // output row
    const unsigned int j = blockIdx.x * DPP_TILE + tx;  // output column
    const unsigned int ra = blockIdx.y * DPP_TILE + ty;  // row of f loaded into a (coalesced over tx)
    const unsigned int rb = blockIdx.x * DPP_TILE + ty;  // row of f loaded into b
    float acc = 0.0f;
    for (unsigned int c0 = 0; c0 < d; c0 += DPP_TILE) {
        const unsigned int c = c0 + tx;
        a[ty][tx] = (ra < n && c < d) ? f[(unsigned long long)ra * d + c] : 0.0f;
        b[ty][tx] = (rb < n && c < d) ? f[(unsigned long long)rb * d + c] : 0.0f;
        __syncthreads();
#pragma unroll
        for (int cc = 0; cc < DPP_TILE; ++cc) acc = fmaf(a[ty][cc], b[tx][cc], acc);
        __syncthreads();
    }
    if (i < n && j < n) out[(unsigned long long)i * n + j] = dpp_entry(acc, sqnorm, i, j, mode);
}

// v2: F·Fᵀ is symmetric, so only the 128 x 128 tiles (I, J) with J >= I are multiplied (a 1-D grid of
// T (T + 1) / 2 blocks, T = ⌈n / 128⌉, the rows of the triangle in order): half the products of the full
// square. A tile's entries are finished once and stored at (i, j) and, off the diagonal tiles, at (j, i),
// so the output is symmetric by construction; inside a diagonal tile (i, j) and (j, i) are the same
// products in the same order (multiplication commutes), so the same bits too. Where n % 4 == 0 both stores
// are float4: a thread's 4 adjacent columns of a row, and for the mirror its 4 adjacent rows of a column.
struct GramRowsK {  // A[i][k] = f[i][k]
    const float* f;
    int d;
    __device__ float operator()(int i, int k) const { return f[(long long)i * d + k]; }
};
struct GramColsK {  // B[k][j] = f[j][k]
    const float* f;
    int d;
    __device__ float operator()(int k, int j) const { return f[(long long)j * d + k]; }
};

extern "C" __global__ void __launch_bounds__(256) dpp_gram_sym_f32(float* out, const float* f, const float* sqnorm,
                                                                   int n, int d, int mode) {
    IG_SHARED
    const int T = (n + IG_BM - 1) / IG_BM;
    int idx = blockIdx.x, I = 0;
    while (I < T && idx >= T - I) idx -= T - I++;
    if (I >= T) return;
    const int J = I + idx, row0 = I * IG_BM, col0 = J * IG_BN;
    float acc[8][8];
    igemm_acc<true, true>(acc, As, Bs, row0, col0, n, n, 0, d, GramRowsK{f, d}, GramColsK{f, d});
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const bool vec = n % 4 == 0, mirror = I != J;
    float v[8][8];
#pragma unroll
    for (int a = 0; a < 8; ++a)
#pragma unroll
        for (int b = 0; b < 8; ++b) {
            const int i = row0 + (a / 4) * 64 + ty * 4 + a % 4, j = col0 + (b / 4) * 64 + tx * 4 + b % 4;
            v[a][b] = i < n && j < n ? dpp_entry(acc[a][b], sqnorm, i, j, mode) : 0.0f;
        }
    // Rows i, 4 columns from j0 (b = 4 h .. 4 h + 3); with the mirror, columns j, 4 rows from i0.
#pragma unroll
    for (int a = 0; a < 8; ++a)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int i = row0 + (a / 4) * 64 + ty * 4 + a % 4, j0 = col0 + h * 64 + tx * 4;
            if (i >= n) continue;
            float* o = out + (long long)i * n + j0;
            if (vec && j0 < n)
                *reinterpret_cast<float4*>(o) = make_float4(v[a][4 * h], v[a][4 * h + 1], v[a][4 * h + 2], v[a][4 * h + 3]);
            else if (!vec)
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    if (j0 + e < n) o[e] = v[a][4 * h + e];
        }
    if (!mirror) return;
#pragma unroll
    for (int b = 0; b < 8; ++b)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int j = col0 + (b / 4) * 64 + tx * 4 + b % 4, i0 = row0 + h * 64 + ty * 4;
            if (j >= n) continue;
            float* o = out + (long long)j * n + i0;
            if (vec && i0 < n)
                *reinterpret_cast<float4*>(o) = make_float4(v[4 * h][b], v[4 * h + 1][b], v[4 * h + 2][b], v[4 * h + 3][b]);
            else if (!vec)
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    if (i0 + e < n) o[e] = v[4 * h + e][b];
        }
}
