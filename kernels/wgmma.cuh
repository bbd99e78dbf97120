// Hopper warpgroup-MMA building blocks (sm_90a) shared by kernels/wgmma.cu and kernels/conv_wgmma.cu: the
// shared-memory address, a 16-byte cp.async, matrix descriptors for the no-swizzle canonical K-major
// layout, and wgmma.mma_async m64nNk16 (bf16 in, fp32 accumulators) for N = 64 and 128.
//
// Canonical K-major layout without swizzle: 8 x 8 "core matrices" (8 rows of 8 bf16 = 16 bytes, rows 16 bytes
// apart, 128 contiguous bytes). The hardware reads element (row r, k) of a 16-deep k-step at
// start + (r / 8) * SBO + (k / 8) * LBO + (r % 8) * 16 + (k % 8) * 2 bytes. The kernels place core matrix
// (r / 8, k / 8) of an R x BK tile at ((r / 8) * (BK / 8) + k / 8) * 128, so LBO = 128, SBO = BK / 8 * 128 and
// k-step s starts at byte 256 s; the 16-byte chunk f = (r / 8) * BK + (k / 8) * 8 + r % 8 sits at 16 f.
#pragma once

__device__ __forceinline__ unsigned wg_smem_addr(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
// 16 bytes from src, or (ok false) zeros without reading src: src need not point into the tensor then.
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

// Matrix descriptor of a K-major tile in the W-byte swizzle layout (W = 128, 64, 32: modes 1, 2, 3): rows
// of W bytes one after another, 8-row groups 8 W apart (SBO), and in row r the 16-byte chunk j stored at
// wg_swz_chunk's j ^ ((r / (128 / W)) % (W / 16)), the pattern the hardware undoes from the shared address
// bits (7.. into 4..), so the tile starts on an 8 W boundary; k-step s (16 bf16) starts 32 s bytes into the
// rows. LBO is unused (1 by convention). The layouts CUTLASS uses for such tiles; under no swizzle Nsight
// Compute counted 72 % excess shared-memory wavefronts in the first conv v7 (H200, 2026-11-27).
template <int W>
__device__ __forceinline__ unsigned long long wg_desc_swz(const void* p) {
    static_assert(W == 128 || W == 64 || W == 32, "swizzle widths: 128, 64, 32 bytes");
    constexpr unsigned long long mode = W == 128 ? 1 : W == 64 ? 2 : 3;
    return (unsigned long long)((wg_smem_addr(p) >> 4) & 0x3FFF) | (1ull << 16) |
           ((unsigned long long)((8 * W) >> 4) << 32) | (mode << 62);
}
// Byte offset of 16-byte chunk j of row r in a K-major tile of W-byte rows under that swizzle.
template <int W>
__device__ __forceinline__ int wg_swz_chunk(int r, int j) {
    return r * W + 16 * (j ^ ((r / (128 / W)) % (W / 16)));
}
// p rounded up to the next 1024-byte shared address (the 128-byte swizzle's repeat).
__device__ __forceinline__ unsigned char* wg_align1024(unsigned char* p) {
    return p + ((1024 - (wg_smem_addr(p) & 1023)) & 1023);
}

// d += A(desc a) . B(desc b) for one m64 n{BN} k16 step (scale-d = 1, no negation; wg_mma_set: d = A . B). TRANS = false: both
// operands K-major; true: both MN-major (imm-trans-a = imm-trans-b = 1; canonical no-swizzle MN-major layout:
// core matrices of 8 k-rows x 16 bytes of 8 consecutive m (or n), LBO between k-groups, SBO between m-groups).
template <int BN, bool TRANS>
struct WgMma;
template <bool T>
struct WgMma<64, T> {
    static __device__ __forceinline__ void run(float (&d)[32], unsigned long long da, unsigned long long db,
                                                int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, %35, %35;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
            : "l"(da), "l"(db), "r"(scale_d), "n"(T ? 1 : 0)
            : "memory");
    }
};
template <bool T>
struct WgMma<128, T> {
    static __device__ __forceinline__ void run(float (&d)[64], unsigned long long da, unsigned long long db,
                                                int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, %67, %67;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
            : "l"(da), "l"(db), "r"(scale_d), "n"(T ? 1 : 0)
            : "memory");
    }
};
template <int BN, bool TRANS = false>
__device__ __forceinline__ void wg_mma(float (&d)[BN / 2], unsigned long long da, unsigned long long db) {
    WgMma<BN, TRANS>::run(d, da, db, 1);
}
// d = A . B: scale-d = 0, the accumulator's previous contents ignored (no zeroing instructions, which would
// define the registers outside the wgmma pipeline).
template <int BN, bool TRANS = false>
__device__ __forceinline__ void wg_mma_set(float (&d)[BN / 2], unsigned long long da, unsigned long long db) {
    WgMma<BN, TRANS>::run(d, da, db, 0);
}

// d += A . B for one m64 n{BN} k8 step on tf32 operands (fp32 words in shared memory; the tensor cores read
// their top 19 bits: "truncate lower 13 bits of the 32-bit input data", PTX ISA, wgmma .tf32), both K-major
// (.tf32 has no transpose), in the same byte layouts as a bf16 k16 step: 8 tf32 = 32 bytes of a row.
template <int BN>
struct WgMmaTf32;
template <>
struct WgMmaTf32<64> {
    static __device__ __forceinline__ void run(float (&d)[32], unsigned long long da, unsigned long long db) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
            : "l"(da), "l"(db), "r"(1)
            : "memory");
    }
};
template <>
struct WgMmaTf32<128> {
    static __device__ __forceinline__ void run(float (&d)[64], unsigned long long da, unsigned long long db) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
            : "l"(da), "l"(db), "r"(1)
            : "memory");
    }
};
template <int BN>
__device__ __forceinline__ void wg_mma_tf32(float (&d)[BN / 2], unsigned long long da, unsigned long long db) {
    WgMmaTf32<BN>::run(d, da, db);
}

// d += A . B(desc b) for one m64 n128 k16 step with A in registers (bf16 pairs, the m16n8k16 A-fragment layout
// per warp: a0 (g, 2q..2q+1), a1 (g + 8, 2q..), a2 (g, 2q + 8..), a3 (g + 8, 2q + 8..), rows of this warp's 16)
// and B MN-major (imm-trans-b = 1), as the accumulator tile of a previous wgmma turned into bf16 feeds it.
__device__ __forceinline__ void wg_mma_rs_n128_bt(float (&d)[64], const unsigned (&a)[4], unsigned long long db) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1)
        : "memory");
}
