// Division by a number fixed for a kernel's lifetime but known only at run time (a tensor dimension), as a
// multiply-high, an add and a shift instead of NVCC's ~30-instruction software division: for 0 <= n < 2^31
// and 1 <= d < 2^31, n / d = (umulhi(n, m) + n) >> s with s = ceil(log2 d) and m = floor(2^32 (2^s - d) / d)
// + 1 (the round-up method; umulhi(n, m) <= n, so the sum stays below 2^32). tools/cusim/check_fastdiv.py
// runs this code against n / d (864 divisors up to 2^31 - 1, boundary and random n).
#pragma once

struct FastDiv {
    unsigned m, s;
    __device__ explicit FastDiv(int d) {
        const unsigned u = (unsigned)d;
        s = 0;
        while (s < 31 && (1u << s) < u) ++s;
        m = (unsigned)(((1ull << 32) * ((1ull << s) - u)) / u + 1);
    }
    __device__ int div(int n) const { return (int)((__umulhi((unsigned)n, m) + (unsigned)n) >> s); }
};
