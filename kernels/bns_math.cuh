// Scalar math of the BNS loss shared by the mma.sync versions (contrastive.cu) and v5 (contrastive_wgmma.cu).
#pragma once

// Per-row sums of the tensor-core fragments: v[h] of a thread's two own rows h (g and g + 8) summed over the
// quad of lanes (q = lane % 4) that hold the other columns of those rows.
__device__ __forceinline__ void bns_quad_sum(float* v) {
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int o = 1; o < 4; o <<= 1) v[h] += __shfl_xor_sync(0xffffffffu, v[h], o);
}

// sigmoid(s) and sigmoid(-s) from one exponential (|s| <= 1/tau <= 80, so e = exp(-|s|) stays normal), and
// log1p(e), so that softplus(s) = max(s, 0) + l1p and softplus(-s) = max(-s, 0) + l1p.
__device__ __forceinline__ void bns_sigmoid_pair(float s, float& sig_p, float& sig_m, float& l1p) {
    const float e = __expf(-fabsf(s));
    const float r = __fdividef(1.0f, 1.0f + e);
    sig_p = s >= 0.0f ? r : e * r;
    sig_m = s >= 0.0f ? e * r : r;
    l1p = log1pf(e);
}

// log2(e): e^x = 2^(x log2 e).
#define BNS_LOG2E 1.4426950408889634f

// 2^x by one MUFU instruction, for the exponentials of the BNS tiles: x = s log2(e) / tau with |s| <= 1 and
// tau >= TAU_MIN (src/loss/bns.rs) stays within +-116, so no result is subnormal and the flush to zero never
// acts. __expf costs six instructions (two multiplies, then a range test and two conditional multiplies
// for results below 2^-126); with log2(e) folded into the scale, an element's exponential costs a multiply
// and this.
__device__ __forceinline__ float bns_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// ln(2): ln x = log2(x) ln 2.
#define BNS_LN2 0.6931471805599453f

// log2(x) by one MUFU instruction, for x in [1, 2] (the paper form's log(1 + e^(-|s|))): no subnormal input,
// where __logf spends a range test and conditional multiplies.
__device__ __forceinline__ float bns_log2(float x) {
    float y;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
