// targets: sm_90a
// Hopper warpgroup MMA probe (wgmma.mma_async, sm_90a only): C[M][N] (fp32) = A[M][K] . B[N][K]^T with bf16
// operands stored K-major in global memory, fp32 accumulation. One warpgroup (128 threads) per 64 x BN block
// tile; 64-deep k-tiles stream through a 3-stage cp.async ring into shared memory in the no-swizzle
// canonical K-major layout, which the MMA reads through matrix descriptors; accumulators stay in registers.
// This is the first step toward wgmma convolutions: it checks the descriptor encoding, the operand layout,
// the proxy fence and the accumulator fragment layout against the CPU, and measures what wgmma gives over
// mma.sync on the same card before a convolution is built on it.
//
// Operand tiles (R x 64: 64 rows of A, BN rows of B) use the canonical layout of wgmma.cuh with BK = 64:
// LBO 128 bytes, SBO 1024 bytes, k-step s at byte 256 s; the `_sw128` entry points (K-major) the 128-byte
// swizzle layout instead (wg_desc_swz<128>: row r at byte 128 r, its chunk j at j ^ (r % 8), k-step s at byte
// 32 s), the same products in the same order, to measure the two layouts against each other.
#include "common.cuh"
#include "wgmma.cuh"

#define WG_BM 64
#define WG_BK 64
#define WG_STAGES 3

// Copies the R x 64 tile (rows r0.., k0..) of X into the canonical layout at dst (chunks past the matrix are
// zero-filled). K-major (TRANS false): X [rows][K], chunk f = 8 k of row (f / 64) * 8 + f % 8, k-group
// (f / 8) % 8. MN-major (TRANS true): X [K][rows], chunk f = 8 consecutive rows (f / 64) * 8 .. + 7 at k =
// f % 64, at byte 16 f = ((r / 8) * 8 + k / 8) * 128 + (k % 8) * 16: core matrices of 8 k-rows (rows % 8 == 0).
template <int R, bool TRANS>
__device__ __forceinline__ void wg_load(unsigned char* dst, const unsigned short* X, int rows, int K, int r0, int k0) {
#pragma unroll
    for (int i = 0; i < R * WG_BK / 8 / 128; ++i) {
        const int f = threadIdx.x + 128 * i;
        if (TRANS) {
            const int r = r0 + (f / 64) * 8, k = k0 + f % 64;
            const bool ok = r < rows && k < K;
            wg_cp16(dst + 16 * f, ok ? X + (long long)k * rows + r : X, ok);
        } else {
            const int r = r0 + (f / 64) * 8 + f % 8, k = k0 + ((f / 8) % 8) * 8;
            const bool ok = r < rows && k < K;
            wg_cp16(dst + 16 * f, ok ? X + (long long)r * K + k : X, ok);
        }
    }
}

// The R x 64 K-major tile in the 128-byte swizzle layout: chunk f = 8 k of row f / 8 (a warp's copies: 4
// whole rows of X), k-group f % 8, stored at row 128 bytes + ((f % 8) ^ (row % 8)) 16 bytes.
template <int R>
__device__ __forceinline__ void wg_load_sw128(unsigned char* dst, const unsigned short* X, int rows, int K, int r0, int k0) {
#pragma unroll
    for (int i = 0; i < R * WG_BK / 8 / 128; ++i) {
        const int f = threadIdx.x + 128 * i, rl = f / 8, j = f % 8;
        const int r = r0 + rl, k = k0 + 8 * j;
        const bool ok = r < rows && k < K;
        wg_cp16(dst + wg_swz_chunk<128>(rl, j), ok ? X + (long long)r * K + k : X, ok);
    }
}

// One 64 x BN block tile of C. K-major operands (TRANS false: A [M][K], B [N][K]) need K % 8 == 0, MN-major
// ones (true: A [K][M], B [K][N], the MMA transposed) M % 8 == 0 and N % 8 == 0 (16-byte chunks). SW128
// (K-major only): the 128-byte swizzle layout, stages on 1024-byte boundaries (the launch gives 1 KB more).
template <int BN, bool TRANS, bool SW128 = false>
__device__ __forceinline__ void wg_gemm(float* C, const unsigned short* A, const unsigned short* B, int M, int N, int K) {
    static_assert(!(TRANS && SW128), "the swizzled probe is K-major");
    constexpr int A_BYTES = WG_BM * WG_BK * 2, STAGE = (WG_BM + BN) * WG_BK * 2;
    extern __shared__ __align__(128) unsigned char wg_smem_raw[];
    unsigned char* wg_smem = wg_smem_raw;
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (SW128) {
        wg_smem = wg_align1024(wg_smem_raw);
        if (dyn < (unsigned)(WG_STAGES * STAGE + 1024)) __trap();
    } else if (dyn < (unsigned)(WG_STAGES * STAGE)) {
        __trap();
    }
    const int row0 = blockIdx.y * WG_BM, col0 = blockIdx.x * BN;
    auto load = [&](unsigned char* st, int k0) {
        if (SW128) {
            wg_load_sw128<WG_BM>(st, A, M, K, row0, k0);
            wg_load_sw128<BN>(st + A_BYTES, B, N, K, col0, k0);
        } else {
            wg_load<WG_BM, TRANS>(st, A, M, K, row0, k0);
            wg_load<BN, TRANS>(st + A_BYTES, B, N, K, col0, k0);
        }
    };
    float d[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) d[i] = 0.0f;
    const int ntiles = (K + WG_BK - 1) / WG_BK;
#pragma unroll
    for (int s = 0; s < WG_STAGES - 1; ++s) {
        if (s < ntiles) load(wg_smem + s * STAGE, s * WG_BK);
        asm volatile("cp.async.commit_group;" ::: "memory");
    }
    for (int kt = 0; kt < ntiles; ++kt) {
        asm volatile("cp.async.wait_group %0;" ::"n"(WG_STAGES - 2) : "memory");
        // The copies were generic-proxy writes; the MMA reads through the async proxy.
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncthreads();  // every thread's copies of tile kt are in; the stage refilled below is idle
        const int nt = kt + WG_STAGES - 1;
        if (nt < ntiles) load(wg_smem + (nt % WG_STAGES) * STAGE, nt * WG_BK);
        asm volatile("cp.async.commit_group;" ::: "memory");
        const unsigned char* As = wg_smem + (kt % WG_STAGES) * STAGE;
        const unsigned char* Bs = As + A_BYTES;
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int s = 0; s < WG_BK / 16; ++s) {
            if (SW128) wg_mma<BN, false>(d, wg_desc_swz<128>(As + 32 * s), wg_desc_swz<128>(Bs + 32 * s));
            else wg_mma<BN, TRANS>(d, wg_desc(As + 256 * s, 128, 1024), wg_desc(Bs + 256 * s, 128, 1024));
        }
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
        // Done reading this stage before any thread refills it (two iterations on).
        asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    }
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    // Accumulator fragments: warp w holds rows 16 w .. 16 w + 15; lane (g, q) holds, per 8-column block j,
    // d[4 j + 2 h + e] at (16 w + g + 8 h, 8 j + 2 q + e).
    const int lane = threadIdx.x % 32, w = threadIdx.x / 32, g = lane / 4, q = lane % 4;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j)
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const int r = row0 + 16 * w + g + 8 * h, c = col0 + 8 * j + 2 * q + e;
                if (r < M && c < N) C[(long long)r * N + c] = d[4 * j + 2 * h + e];
            }
}

extern "C" __global__ void __launch_bounds__(128, 1) gemm_wgmma_bf16_n64(float* C, const unsigned short* A, const unsigned short* B, int M, int N, int K) { wg_gemm<64, false>(C, A, B, M, N, K); }
extern "C" __global__ void __launch_bounds__(128, 1) gemm_wgmma_bf16_n128(float* C, const unsigned short* A, const unsigned short* B, int M, int N, int K) { wg_gemm<128, false>(C, A, B, M, N, K); }
// MN-major operands (A [K][M], B [K][N]): the layout and transposed MMA of conv v7's grad-weight and of the
// BNS v5 second product's B, isolated.
extern "C" __global__ void __launch_bounds__(128, 1) gemm_wgmma_bf16_mn_n64(float* C, const unsigned short* A, const unsigned short* B, int M, int N, int K) { wg_gemm<64, true>(C, A, B, M, N, K); }
extern "C" __global__ void __launch_bounds__(128, 1) gemm_wgmma_bf16_mn_n128(float* C, const unsigned short* A, const unsigned short* B, int M, int N, int K) { wg_gemm<128, true>(C, A, B, M, N, K); }
// K-major operands in the 128-byte swizzle layout.
extern "C" __global__ void __launch_bounds__(128, 1) gemm_wgmma_bf16_sw128_n64(float* C, const unsigned short* A, const unsigned short* B, int M, int N, int K) { wg_gemm<64, false, true>(C, A, B, M, N, K); }
extern "C" __global__ void __launch_bounds__(128, 1) gemm_wgmma_bf16_sw128_n128(float* C, const unsigned short* A, const unsigned short* B, int M, int N, int K) { wg_gemm<128, false, true>(C, A, B, M, N, K); }
