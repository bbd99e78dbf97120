// targets: sm_90a
// Hopper warpgroup MMA probe (wgmma.mma_async, sm_90a only): C[M][N] (fp32) = A[M][K] . B[N][K]^T with bf16
// operands stored K-major in global memory, fp32 accumulation. One warpgroup (128 threads) per 64 x BN block
// tile; 64-deep k-tiles stream through a 3-stage cp.async ring into shared memory in the no-swizzle
// canonical K-major layout, which the MMA reads through matrix descriptors; accumulators stay in registers.
// This is the first step toward wgmma convolutions: it checks the descriptor encoding, the operand layout,
// the proxy fence and the accumulator fragment layout against the CPU, and measures what wgmma gives over
// mma.sync on the same card before a convolution is built on it.
//
// Shared-memory layout of an R x 64 operand tile (R = 64 rows of A or BN rows of B): 8 x 8 "core matrices"
// (8 rows x 16 bytes, rows 16 bytes apart, 128 contiguous bytes), core matrix (r / 8, k / 8) at byte
// ((r / 8) * 8 + k / 8) * 128. So element (r, k) sits at ((r/8)*8 + k/8)*128 + (r%8)*16 + (k%8)*2, and the
// 16-byte chunk f = (r/8)*64 + (k/8)*8 + r%8 at byte 16 f: consecutive threads fill consecutive chunks. For
// the k-step s (k = 16 s .. 16 s + 15) the descriptor starts at byte 2 s * 128 with leading-dimension offset
// 128 (the next 8 k) and stride-dimension offset 1024 (the next 8 rows).
#include "common.cuh"

#define WG_BM 64
#define WG_BK 64
#define WG_STAGES 3

__device__ __forceinline__ unsigned wg_smem_addr(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void wg_cp16(void* dst, const void* src, bool ok) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(wg_smem_addr(dst)), "l"(src), "r"(ok ? 16 : 0)
                 : "memory");
}

// Matrix descriptor without swizzle: start address, leading- and stride-dimension byte offsets, each >> 4 in
// 14 bits (bits 0-13, 16-29, 32-45); base offset 0, swizzle mode 0 (bits 62-63).
__device__ __forceinline__ unsigned long long wg_desc(const void* p, unsigned lbo, unsigned sbo) {
    return (unsigned long long)((wg_smem_addr(p) >> 4) & 0x3FFF) | ((unsigned long long)((lbo >> 4) & 0x3FFF) << 16) |
           ((unsigned long long)((sbo >> 4) & 0x3FFF) << 32);
}

// d += A(desc a) . B(desc b) for one m64 n{BN} k16 step (scale-d = 1, no negation, both K-major).
template <int BN>
__device__ __forceinline__ void wg_mma(float (&d)[BN / 2], unsigned long long da, unsigned long long db);
template <>
__device__ __forceinline__ void wg_mma<64>(float (&d)[32], unsigned long long da, unsigned long long db) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "l"(da), "l"(db), "r"(1));
}
template <>
__device__ __forceinline__ void wg_mma<128>(float (&d)[64], unsigned long long da, unsigned long long db) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(1));
}

// Copies the R x 64 tile of a K-major matrix X [rows][K] whose first row is r0 and first column k0 into the
// canonical layout at dst (chunks past the matrix are zero-filled).
template <int R>
__device__ __forceinline__ void wg_load(unsigned char* dst, const unsigned short* X, int rows, int K, int r0, int k0) {
#pragma unroll
    for (int i = 0; i < R * WG_BK / 8 / 128; ++i) {
        const int f = threadIdx.x + 128 * i;
        const int r = r0 + (f / 64) * 8 + f % 8, k = k0 + ((f / 8) % 8) * 8;
        const bool ok = r < rows && k < K;
        wg_cp16(dst + 16 * f, ok ? X + (long long)r * K + k : X, ok);
    }
}

// One 64 x BN block tile of C. K % 8 == 0 (16-byte chunks); M, N arbitrary.
template <int BN>
__device__ __forceinline__ void wg_gemm(float* C, const unsigned short* A, const unsigned short* B, int M, int N, int K) {
    constexpr int A_BYTES = WG_BM * WG_BK * 2, STAGE = (WG_BM + BN) * WG_BK * 2;
    extern __shared__ __align__(128) unsigned char wg_smem[];
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)(WG_STAGES * STAGE)) __trap();
    const int row0 = blockIdx.y * WG_BM, col0 = blockIdx.x * BN;
    float d[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) d[i] = 0.0f;
    const int ntiles = (K + WG_BK - 1) / WG_BK;
#pragma unroll
    for (int s = 0; s < WG_STAGES - 1; ++s) {
        if (s < ntiles) {
            wg_load<WG_BM>(wg_smem + s * STAGE, A, M, K, row0, s * WG_BK);
            wg_load<BN>(wg_smem + s * STAGE + A_BYTES, B, N, K, col0, s * WG_BK);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
    }
    for (int kt = 0; kt < ntiles; ++kt) {
        asm volatile("cp.async.wait_group %0;" ::"n"(WG_STAGES - 2) : "memory");
        // The copies were generic-proxy writes; the MMA reads through the async proxy.
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncthreads();  // every thread's copies of tile kt are in; the stage refilled below is idle
        const int nt = kt + WG_STAGES - 1;
        if (nt < ntiles) {
            unsigned char* st = wg_smem + (nt % WG_STAGES) * STAGE;
            wg_load<WG_BM>(st, A, M, K, row0, nt * WG_BK);
            wg_load<BN>(st + A_BYTES, B, N, K, col0, nt * WG_BK);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
        const unsigned char* As = wg_smem + (kt % WG_STAGES) * STAGE;
        const unsigned char* Bs = As + A_BYTES;
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int s = 0; s < WG_BK / 16; ++s)
            wg_mma<BN>(d, wg_desc(As + 256 * s, 128, 1024), wg_desc(Bs + 256 * s, 128, 1024));
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

extern "C" __global__ void __launch_bounds__(128, 1) gemm_wgmma_bf16_n64(float* C, const unsigned short* A, const unsigned short* B, int M, int N, int K) { wg_gemm<64>(C, A, B, M, N, K); }
extern "C" __global__ void __launch_bounds__(128, 1) gemm_wgmma_bf16_n128(float* C, const unsigned short* A, const unsigned short* B, int M, int N, int K) { wg_gemm<128>(C, A, B, M, N, K); }
