// Tensor-core building blocks shared by the convolution kernels (conv_tc.cu v3..v5, conv_tc6.cu): rounding
// to TF32 / bf16, the mma.sync shapes, ldmatrix fragment loads and the accumulator epilogue.
#pragma once

__device__ __forceinline__ unsigned tc_tf32(float v) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
    return r;
}
// TF32 rounding in the instructions the target has: sm_90 and later round to nearest even in one
// instruction (F2FP), earlier targets only offer ties away from zero, which ptxas emulates in two (a NaN/Inf
// test and an add). v6 rounds each operand element once per warp that reads it, a third of the k-loop's
// instructions with the emulated form; v3-v5 (validated with cvt.rna) keep tc_tf32.
__device__ __forceinline__ unsigned tc_tf32_hw(float v) {
    unsigned r;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm("cvt.rn.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
#else
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
#endif
    return r;
}
__device__ __forceinline__ void tc_mma_tf32(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void tc_mma_bf16(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <int MI, int NJ>
__device__ __forceinline__ void tc_zero(float (&acc)[MI][NJ][4]) {
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NJ; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
}

// Calls f(row, col, v0, v1) for each column pair (col, col + 1) of a warp's MI x NJ accumulator tiles with
// top-left corner (rb, cb) whose row and first column lie inside M x N. Fragment layout: c0 (g, 2q),
// c1 (g, 2q+1), c2 (g+8, 2q), c3 (g+8, 2q+1).
template <int MI, int NJ, class F>
__device__ __forceinline__ void tc_for_each_pair(int M, int N, int rb, int cb, const float (&acc)[MI][NJ][4], F f) {
    const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NJ; ++j)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int row = rb + i * 16 + g + h * 8, col = cb + j * 8 + 2 * q;
                if (row < M && col < N) f(row, col, acc[i][j][2 * h], acc[i][j][2 * h + 1]);
            }
}

// tc_store_acc's add (row-major, ldc and cb even): C += acc, a row tile i at a time, its NJ x 2 old pairs
// loaded before any of its sums is stored. Load, add, store pair by pair made ptxas issue each load only
// after the previous pair's store (it cannot prove that a thread's pairs never overlap), one global
// latency per pair: the adding grad-input epilogue cost about 3x its extra read on an H200 (2026-11-28).
// The same sums in the same order: the same bits.
template <int MI, int NJ>
__device__ __forceinline__ void tc_add_acc(float* C, int ldc, int M, int N, int rb, int cb,
                                           const float (&acc)[MI][NJ][4]) {
    const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
#pragma unroll
    for (int i = 0; i < MI; ++i) {
        float2 old[NJ][2];
#pragma unroll
        for (int j = 0; j < NJ; ++j)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int row = rb + i * 16 + g + h * 8, col = cb + j * 8 + 2 * q;
                const float* c = C + (long long)row * ldc + col;
                old[j][h] = make_float2(0.0f, 0.0f);
                if (row < M && col + 1 < N)
                    old[j][h] = *reinterpret_cast<const float2*>(c);
                else if (row < M && col < N)
                    old[j][h].x = *c;
            }
#pragma unroll
        for (int j = 0; j < NJ; ++j)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int row = rb + i * 16 + g + h * 8, col = cb + j * 8 + 2 * q;
                float* c = C + (long long)row * ldc + col;
                const float v0 = acc[i][j][2 * h] + old[j][h].x, v1 = acc[i][j][2 * h + 1] + old[j][h].y;
                if (row < M && col + 1 < N)
                    *reinterpret_cast<float2*>(c) = make_float2(v0, v1);
                else if (row < M && col < N)
                    *c = v0;
            }
    }
}

// Writes (atomic: adds atomically; add: reads, adds, writes) a warp's MI x NJ accumulator tiles whose
// top-left corner is (rb, cb). TRANS_C: element (row, col) goes to C[col * ldc + row]. Plain row-major
// stores write each column pair as one float2 where it is whole and 8-byte aligned: a warp's store then
// fills 8 rows x 32 bytes, whole sectors (single floats 2 apart use half of each sector they touch, twice
// the write sectors).
template <int MI, int NJ, bool TRANS_C>
__device__ __forceinline__ void tc_store_acc(float* C, int ldc, int M, int N, int rb, int cb,
                                             const float (&acc)[MI][NJ][4], bool atomic, bool add = false) {
    if (!TRANS_C && !atomic && ((ldc | cb) & 1) == 0) {
        if (add) {
            tc_add_acc<MI, NJ>(C, ldc, M, N, rb, cb, acc);
            return;
        }
        tc_for_each_pair<MI, NJ>(M, N, rb, cb, acc, [&](int row, int col, float v0, float v1) {
            float* c = C + (long long)row * ldc + col;
            if (col + 1 < N)
                *reinterpret_cast<float2*>(c) = make_float2(v0, v1);
            else
                *c = v0;
        });
        return;
    }
    tc_for_each_pair<MI, NJ>(M, N, rb, cb, acc, [&](int row, int col, float v0, float v1) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
            if (col + e >= N) continue;
            float* c = TRANS_C ? C + (long long)(col + e) * ldc + row : C + (long long)row * ldc + col + e;
            const float v = e ? v1 : v0;
            if (atomic) atomicAdd(c, v);
            else *c = add ? *c + v : v;
        }
    });
}

// tc_store_acc's row-major store as bf16 (round to nearest even): a column pair as one 4-byte store where it
// is whole and aligned.
template <int MI, int NJ>
__device__ __forceinline__ void tc_store_acc_bf16(unsigned short* C, int ldc, int M, int N, int rb, int cb,
                                                  const float (&acc)[MI][NJ][4]) {
    const bool pairs = ((ldc | cb) & 1) == 0;
    tc_for_each_pair<MI, NJ>(M, N, rb, cb, acc, [&](int row, int col, float v0, float v1) {
        unsigned short* c = C + (long long)row * ldc + col;
        if (pairs && col + 1 < N) {
            *reinterpret_cast<unsigned*>(c) = pack_bf16x2(v0, v1);
        } else {
#pragma unroll
            for (int e = 0; e < 2; ++e)
                if (col + e < N) {
                    unsigned short b;
                    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(b) : "f"(e ? v1 : v0));
                    c[e] = b;
                }
        }
    });
}

__device__ __forceinline__ unsigned tc5_smem_addr(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void tc5_ldsm_x4(unsigned (&r)[4], const unsigned short* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(tc5_smem_addr(p))
                 : "memory");
}
__device__ __forceinline__ void tc5_ldsm_x4_t(unsigned (&r)[4], const unsigned short* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(tc5_smem_addr(p))
                 : "memory");
}

// B fragments of one 16-deep k-step for a warp's NJ n8 tiles from column wn, by ldmatrix from B stored
// [n][k] (B_NK) or [k][n] (.trans), row stride SB. Matrix j of an x4 load takes its row addresses from lanes
// 8j..8j+7: j = (k +8) + 2 (columns +8).
template <int NJ, bool B_NK>
__device__ __forceinline__ void tc_bf16_bfrag(unsigned (&b)[NJ][2], const unsigned short* Bs, int SB, int ks, int wn) {
    const int lane = threadIdx.x % 32;
    const int l8 = lane % 8, lb3 = (lane >> 3) & 1, lb4 = lane >> 4;
#pragma unroll
    for (int jp = 0; jp < NJ / 2; ++jp) {
        const int nb = wn + 16 * jp;
        unsigned r[4];
        if (B_NK) tc5_ldsm_x4(r, &Bs[(nb + l8 + 8 * lb4) * SB + ks + 8 * lb3]);
        else tc5_ldsm_x4_t(r, &Bs[(ks + l8 + 8 * lb3) * SB + nb + 8 * lb4]);
        b[2 * jp][0] = r[0];
        b[2 * jp][1] = r[1];
        b[2 * jp + 1][0] = r[2];
        b[2 * jp + 1][1] = r[3];
    }
    if constexpr (NJ % 2 == 1) {
        // The last n8 tile alone (the 8-column warp tiles of v6's n16 / n32 grad-weight `_m192`): an x4 whose
        // matrices 2 and 3 repeat 0 and 1 (lanes 16-31 name the rows of lanes 0-15); r[2], r[3] unused.
        const int nb = wn + 16 * (NJ / 2);
        unsigned r[4];
        if (B_NK) tc5_ldsm_x4(r, &Bs[(nb + l8) * SB + ks + 8 * lb3]);
        else tc5_ldsm_x4_t(r, &Bs[(ks + l8 + 8 * lb3) * SB + nb]);
        b[NJ - 1][0] = r[0];
        b[NJ - 1][1] = r[1];
    }
}

template <int MI, int NJ>
__device__ __forceinline__ void tc_bf16_mmas(float (&acc)[MI][NJ][4], const unsigned (&a)[MI][4],
                                             const unsigned (&b)[NJ][2]) {
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NJ; ++j) tc_mma_bf16(acc[i][j], a[i], b[j][0], b[j][1]);
}

// One 16-deep k-step of a warp's MI x NJ bf16 mma tiles from shared memory (v5, v6): A fragments by ldmatrix
// from A stored [m][k] (A_MK) or [k][m] (.trans), B as tc_bf16_bfrag; SA, SB are the row strides in
// elements, (wm, wn) the warp's tile corner. For A, matrix j of an x4 load takes its row addresses from
// lanes 8j..8j+7 with j = (rows +8) + 2 (k +8).
template <int MI, int NJ, bool A_MK, bool B_NK>
__device__ __forceinline__ void tc_bf16_kstep(float (&acc)[MI][NJ][4], const unsigned short* As, int SA,
                                              const unsigned short* Bs, int SB, int ks, int wm, int wn) {
    const int lane = threadIdx.x % 32;
    const int l8 = lane % 8, lb3 = (lane >> 3) & 1, lb4 = lane >> 4;
    unsigned a[MI][4], b[NJ][2];
#pragma unroll
    for (int i = 0; i < MI; ++i) {
        const int mb = wm + 16 * i;
        if (A_MK) tc5_ldsm_x4(a[i], &As[(mb + l8 + 8 * lb3) * SA + ks + 8 * lb4]);
        else tc5_ldsm_x4_t(a[i], &As[(ks + l8 + 8 * lb4) * SA + mb + 8 * lb3]);
    }
    tc_bf16_bfrag<NJ, B_NK>(b, Bs, SB, ks, wn);
    tc_bf16_mmas<MI, NJ>(acc, a, b);
}

// One 8-deep k-step of a warp's MI x NJ tf32 mma tiles (m16n8k8) from fp32 tiles in shared memory (v6).
// Fragments: A (m g, k q) a0, (g + 8, q) a1, (g, q + 4) a2, (g + 8, q + 4) a3; B (k q, n g) b0, (q + 4, g) b1.
// A k-contiguous row holds 4 k of a fragment row in 16 bytes, which is one row of an 8 x 8 b16 ldmatrix
// matrix whose lane (g, q) gets the 32-bit word q: so tiles stored [m][k] (A_MK) and [n][k] (B_NK) load by
// ldmatrix (x4: A rows +8 and k +4; B two n8 tiles and k +4), the others element by element. Each element is
// then rounded (tc_tf32_hw).
template <int MI, int NJ, bool A_MK, bool B_NK>
__device__ __forceinline__ void tc_tf32_kstep(float (&acc)[MI][NJ][4], const float* As, int SA, const float* Bs,
                                              int SB, int ks, int wm, int wn) {
    const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
    const int l8 = lane % 8, lb3 = (lane >> 3) & 1, lb4 = lane >> 4;
    unsigned a[MI][4], b[NJ][2];
#pragma unroll
    for (int i = 0; i < MI; ++i) {
        const int mb = wm + 16 * i;
        if constexpr (A_MK) {
            tc5_ldsm_x4(a[i], reinterpret_cast<const unsigned short*>(&As[(mb + l8 + 8 * lb3) * SA + ks + 4 * lb4]));
#pragma unroll
            for (int e = 0; e < 4; ++e) a[i][e] = tc_tf32_hw(__uint_as_float(a[i][e]));
        } else {
            a[i][0] = tc_tf32_hw(As[(ks + q) * SA + mb + g]);
            a[i][1] = tc_tf32_hw(As[(ks + q) * SA + mb + g + 8]);
            a[i][2] = tc_tf32_hw(As[(ks + q + 4) * SA + mb + g]);
            a[i][3] = tc_tf32_hw(As[(ks + q + 4) * SA + mb + g + 8]);
        }
    }
    if constexpr (B_NK && NJ % 2 == 0) {
#pragma unroll
        for (int jp = 0; jp < NJ / 2; ++jp) {
            unsigned r[4];
            tc5_ldsm_x4(r, reinterpret_cast<const unsigned short*>(&Bs[(wn + 16 * jp + 8 * lb4 + l8) * SB + ks + 4 * lb3]));
            b[2 * jp][0] = tc_tf32_hw(__uint_as_float(r[0]));
            b[2 * jp][1] = tc_tf32_hw(__uint_as_float(r[1]));
            b[2 * jp + 1][0] = tc_tf32_hw(__uint_as_float(r[2]));
            b[2 * jp + 1][1] = tc_tf32_hw(__uint_as_float(r[3]));
        }
    } else {
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
            const int n = wn + 8 * j + g;
            b[j][0] = tc_tf32_hw(B_NK ? Bs[n * SB + ks + q] : Bs[(ks + q) * SB + n]);
            b[j][1] = tc_tf32_hw(B_NK ? Bs[n * SB + ks + q + 4] : Bs[(ks + q + 4) * SB + n]);
        }
    }
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NJ; ++j) tc_mma_tf32(acc[i][j], a[i], b[j][0], b[j][1]);
}

// tc_bf16_kstep with A rows anywhere in shared memory ([m][k], k contiguous): this lane's row of A tile i
// starts at A + aoff[i], which already holds the lane's row (wm + 16 i + l8 + 8 lb3) and k offset (8 lb4).
template <int MI, int NJ, bool B_NK>
__device__ __forceinline__ void tc_bf16_kstep_rows(float (&acc)[MI][NJ][4], const unsigned short* A,
                                                   const int (&aoff)[MI], const unsigned short* Bs, int SB, int ks,
                                                   int wn) {
    unsigned a[MI][4], b[NJ][2];
#pragma unroll
    for (int i = 0; i < MI; ++i) tc5_ldsm_x4(a[i], A + aoff[i] + ks);
    tc_bf16_bfrag<NJ, B_NK>(b, Bs, SB, ks, wn);
    tc_bf16_mmas<MI, NJ>(acc, a, b);
}
