// Convolution geometry and the operand gathers of the implicit GEMMs (im2col on the fly), shared by the
// fp32 kernels (conv.cu) and the tensor-core kernels (conv_tc.cu, conv_tc6.cu, conv_wgmma.cu). NHWC activations,
// OHWI weights.
#pragma once

// add: the v6 and v7 grad-input kernels add their result to gx instead of storing it (the gradient of a
// block input that the shortcut's backward wrote first; each element has one writer, so a plain
// read-add-write); every other kernel ignores it.
// add: the v6/v7 grad-input kernels add into gx; out16: the v6/v7 forward with BN statistics (`_stats`) stores
// y as bf16 (y then points to bf16 storage), its statistics those of the rounded values, and the v6/v7 stride-1
// grad-input stores gx as bf16 (not with add; the strided classes trap).
struct ConvDims {
    int n, h, w, c, o, kh, kw, stride, pad, oh, ow, add, out16;
};

// *p = v, or *p += v with `add` (ConvDims::add).
__device__ __forceinline__ void conv_put(float* p, float v, bool add) { *p = add ? *p + v : v; }

// Gathers x[n, iy, ix, c] for im2col row m = (n, oy, ox) and column k = (ky, kx, c); 0 in the padding.
struct Im2col {
    const float* x;
    ConvDims d;
    __device__ float operator()(int m, int k) const {
        const int c = k % d.c;
        const int r = k / d.c;
        const int kx = r % d.kw, ky = r / d.kw;
        const int ox = m % d.ow;
        const int t = m / d.ow;
        const int oy = t % d.oh, n = t / d.oh;
        const int iy = oy * d.stride + ky - d.pad, ix = ox * d.stride + kx - d.pad;
        if (iy < 0 || ix < 0 || iy >= d.h || ix >= d.w) return 0.0f;
        return x[(((long long)n * d.h + iy) * d.w + ix) * d.c + c];
    }
};
// Same gather with (k, m) argument order, for the grad-weight GEMM where im2col is the B operand.
struct Im2colT {
    Im2col g;
    __device__ float operator()(int k, int m) const { return g(k, m); }
};
// B(k, o) = w[o, k]: the weights as a [K, O] operand.
struct WeightT {
    const float* w;
    int kdim;
    __device__ float operator()(int k, int o) const { return w[(long long)o * kdim + k]; }
};
// A(m, k) for grad-input: m = (n, iy, ix), k = (ky, kx, o) → gy[n, oy, ox, o] where the stride divides.
struct GyGather {
    const float* gy;
    ConvDims d;
    __device__ float operator()(int m, int k) const {
        const int o = k % d.o;
        const int r = k / d.o;
        const int kx = r % d.kw, ky = r / d.kw;
        const int ix = m % d.w;
        const int t = m / d.w;
        const int iy = t % d.h, n = t / d.h;
        const int ty = iy + d.pad - ky, tx = ix + d.pad - kx;
        if (ty < 0 || tx < 0 || ty % d.stride != 0 || tx % d.stride != 0) return 0.0f;
        const int oy = ty / d.stride, ox = tx / d.stride;
        if (oy >= d.oh || ox >= d.ow) return 0.0f;
        return gy[(((long long)n * d.oh + oy) * d.ow + ox) * d.o + o];
    }
};
// B(k, c) for grad-input: k = (ky, kx, o) → w[o, ky, kx, c].
struct WeightForInput {
    const float* w;
    ConvDims d;
    __device__ float operator()(int k, int c) const {
        const int o = k % d.o;
        const int r = k / d.o;
        return w[((long long)o * d.kh * d.kw + r) * d.c + c];
    }
};
// A(o, p) = gy[p, o]: grad-output as an [O, P] operand.
struct GyT {
    const float* gy;
    int o;
    __device__ float operator()(int oo, int p) const { return gy[(long long)p * o + oo]; }
};

// Grad-input of a strided convolution (stride s > 1) by residue classes (conv_tc6.cu v6, conv_wgmma.cu v7),
// without the (s² - 1)/s² of zero rows the plain gather multiplies: input pixels with (iy + pad) % s == ry
// and (ix + pad) % s == rx receive gradient only from the taps ky = ry + s·j, kx = rx + s·i, each from the
// output pixel ((iy + pad - ky) / s, (ix + pad - kx) / s). blockIdx.z picks the class (ry, rx); its GEMM has
// one row per pixel of the class and K = (its taps) x O; a class without taps (1x1 stride 2: odd pixels)
// runs no k-tile and stores zeros.
struct StrideClass {
    int s, ry, rx, iy1, ix1, hy, wx, nkx, M, K;
    __device__ StrideClass(const ConvDims& d, int cls) {
        s = d.stride;
        ry = cls / s;
        rx = cls % s;
        iy1 = ((ry - d.pad) % s + s) % s;  // first iy of the class
        ix1 = ((rx - d.pad) % s + s) % s;
        hy = iy1 < d.h ? (d.h - iy1 + s - 1) / s : 0;
        wx = ix1 < d.w ? (d.w - ix1 + s - 1) / s : 0;
        const int nky = ry < d.kh ? (d.kh - ry + s - 1) / s : 0;
        nkx = rx < d.kw ? (d.kw - rx + s - 1) / s : 0;
        M = d.n * hy * wx;
        K = nky * nkx * d.o;
    }
    // Image, row and column of class row m (m < M).
    __device__ void pixel(int m, int& n, int& iy, int& ix) const {
        const int r = m / wx;
        ix = ix1 + s * (m - r * wx);
        iy = iy1 + s * (r % hy);
        n = r / hy;
    }
};

// The A rows one thread copies in the cp.async loaders of conv_tc6.cu (v6) and conv_wgmma.cu (v7): per row i
// the source offset of its first tap (`rb`, which may point into the padding) and what bounds it, kept from
// k-tile to k-tile, so a k-tile adds one offset per tile (`tap`) and tests the bounds per row (`ok`). `chunk`
// is the channel offset of the thread's 16-byte copy within a row; rows at or past the GEMM's M never read.
// Forward: im2col of x, row m = (n, oy, ox), k = (ky, kx, c).
template <int NA>
struct FwdRows {
    int iy0[NA], ix0[NA];
    long long rb[NA];
    __device__ void set(int i, const ConvDims& d, int m, int chunk) {
        const int M = d.n * d.oh * d.ow, ox = m % d.ow, r = m / d.ow;
        iy0[i] = m < M ? (r % d.oh) * d.stride - d.pad : -(1 << 28);
        ix0[i] = ox * d.stride - d.pad;
        rb[i] = m < M ? (((long long)(r / d.oh) * d.h + iy0[i]) * d.w + ix0[i]) * d.c + chunk : 0;
    }
    __device__ static long long tap(const ConvDims& d, int ky, int kx, int c0) {
        return ((long long)ky * d.w + kx) * d.c + c0;
    }
    __device__ bool ok(int i, const ConvDims& d, int ky, int kx) const {
        return (unsigned)(iy0[i] + ky) < (unsigned)d.h && (unsigned)(ix0[i] + kx) < (unsigned)d.w;
    }
};

// Grad-input, stride 1: gy gathered for row m = (n, iy, ix), k = (ky, kx, o), from output pixel
// (iy + pad - ky, ix + pad - kx); rb is the offset of output pixel (n, iy + pad, ix + pad). It is never
// negative and below 2^32 (gy holds < 2^31 elements, dims() checks, and rb passes its end by less than one
// image), so it is kept in 32 bits: four registers less in v6's n64 grad-input, which spilled.
template <int NA>
struct GradInputRows {
    int ty0[NA], tx0[NA];
    unsigned rb[NA];
    __device__ void set(int i, const ConvDims& d, int m, int chunk) {
        const int M = d.n * d.h * d.w, ix = m % d.w, r = m / d.w;
        ty0[i] = m < M ? (r % d.h) + d.pad : -(1 << 28);
        tx0[i] = ix + d.pad;
        rb[i] = m < M ? (unsigned)((((long long)(r / d.h) * d.oh + ty0[i]) * d.ow + tx0[i]) * d.o + chunk) : 0u;
    }
    __device__ static long long tap(const ConvDims& d, int ky, int kx, int o0) {
        return o0 - ((long long)ky * d.ow + kx) * d.o;
    }
    __device__ bool ok(int i, const ConvDims& d, int ky, int kx) const {
        return (unsigned)(ty0[i] - ky) < (unsigned)d.oh && (unsigned)(tx0[i] - kx) < (unsigned)d.ow;
    }
};

// Grad-input of residue class `cl`: class row m, tap (jy, jx) of the class (ky = ry + s jy, kx = rx + s jx)
// reads output pixel (qy - jy, qx - jx) with qy = (iy + pad - ry) / s (exact for the class's pixels); rb is
// the offset of (n, qy, qx).
template <int NA>
struct ClassRows {
    int qy[NA], qx[NA];
    long long rb[NA];
    __device__ void set(int i, const ConvDims& d, const StrideClass& cl, int m, int chunk) {
        int n = 0, iy = 0, ix = 0;
        if (m < cl.M) cl.pixel(m, n, iy, ix);
        qy[i] = m < cl.M ? (iy + d.pad - cl.ry) / cl.s : -(1 << 28);
        qx[i] = (ix + d.pad - cl.rx) / cl.s;
        rb[i] = m < cl.M ? (((long long)n * d.oh + qy[i]) * d.ow + qx[i]) * d.o + chunk : 0;
    }
    __device__ static long long tap(const ConvDims& d, int jy, int jx, int o0) {
        return o0 - ((long long)jy * d.ow + jx) * d.o;
    }
    __device__ bool ok(int i, const ConvDims& d, int jy, int jx) const {
        return (unsigned)(qy[i] - jy) < (unsigned)d.oh && (unsigned)(qx[i] - jx) < (unsigned)d.ow;
    }
};
