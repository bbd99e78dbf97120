// targets: sm_80 sm_90
// Augmentations on the GPU: the u8 data set stays resident (R, G, B planes of 32x32 per image, CIFAR's
// layout) and the kernels write the f32 NHWC batch directly. Random parameters come from Philox-4x32-10
// keyed by the 64-bit seed with counter (image index, epoch, view, op << 16 | block), the same generator
// and the same slots as src/rng.rs and src/data/augment.rs, so CPU and GPU draw the same parameters.
// The parameter arithmetic uses explicit round-to-nearest intrinsics (no FMA contraction) so that it is
// bit-identical to the Rust code; the pixel arithmetic may contract and matches within rounding.
#include "common.cuh"
#include <cuda_bf16.h>

#define AUG_SIDE 32
#define AUG_PIXELS 1024
#define AUG_BYTES 3072
#define AUG_OP_SIMCLR 1u
#define AUG_OP_PADCROP 2u
#define AUG_CROP_ATTEMPTS 10u
#define AUG_PAD 4

struct Philox4 {
    unsigned int x, y, z, w;
};

__device__ __forceinline__ Philox4 philox4x32_10(Philox4 c, unsigned int k0, unsigned int k1) {
#pragma unroll
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const unsigned int hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        const unsigned int hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        Philox4 n;
        n.x = hi1 ^ c.y ^ k0;
        n.y = lo1;
        n.z = hi0 ^ c.w ^ k1;
        n.w = lo0;
        c = n;
    }
    return c;
}

__device__ __forceinline__ Philox4 aug_draw(unsigned int index, unsigned int epoch, unsigned int view,
                                            unsigned int op, unsigned int block, unsigned int k0,
                                            unsigned int k1) {
    Philox4 c;
    c.x = index;
    c.y = epoch;
    c.z = view;
    c.w = (op << 16) | (block & 0xFFFFu);
    return philox4x32_10(c, k0, k1);
}

__device__ __forceinline__ float u01_f32(unsigned int x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }
__device__ __forceinline__ double u01_f64(unsigned int x) { return (double)x * (1.0 / 4294967296.0); }
__device__ __forceinline__ unsigned int below(unsigned int x, unsigned int n) {
    return (unsigned int)(((unsigned long long)x * n) >> 32);
}
__device__ __forceinline__ float lerp_rn(float lo, float hi, float u) {
    return __fadd_rn(lo, __fmul_rn(u, __fsub_rn(hi, lo)));
}
__device__ __forceinline__ double lerp_rn_f64(double lo, double hi, double u) {
    return __dadd_rn(lo, __dmul_rn(u, __dsub_rn(hi, lo)));
}

// Same layout as SimclrParams in src/data/augment.rs (12 words).
struct SimclrParams {
    int crop_i, crop_j, crop_h, crop_w;
    unsigned int flip, jitter;
    float brightness, contrast, saturation, hue;
    unsigned int gray;
    float sigma;
};

// Same layout as SimclrCfgDev in src/data/augment_cuda.rs. Logs of the ratio bounds come from the host.
struct SimclrCfg {
    double scale_lo, scale_hi, log_ratio_lo, log_ratio_hi, ratio_lo, ratio_hi;
    float factor_lo, factor_hi, hue_max, p_flip, p_jitter, p_gray, sigma_lo, sigma_hi;
};

// One thread per view: items holds (index, view) pairs.
extern "C" __global__ void simclr_params(SimclrParams* out, const unsigned int* items, unsigned int n,
                                         SimclrCfg cfg, unsigned int k0, unsigned int k1, unsigned int epoch) {
    for (unsigned int t = blockIdx.x * blockDim.x + threadIdx.x; t < n; t += gridDim.x * blockDim.x) {
        const unsigned int index = items[2 * t], view = items[2 * t + 1];
        const double side = (double)AUG_SIDE, area = side * side;
        int ci = 0, cj = 0, ch = 0, cw = 0;
        bool found = false;
        for (unsigned int a = 0; a < AUG_CROP_ATTEMPTS && !found; ++a) {
            const Philox4 r = aug_draw(index, epoch, view, AUG_OP_SIMCLR, a, k0, k1);
            const double target = __dmul_rn(area, lerp_rn_f64(cfg.scale_lo, cfg.scale_hi, u01_f64(r.x)));
            const double ar = exp(lerp_rn_f64(cfg.log_ratio_lo, cfg.log_ratio_hi, u01_f64(r.y)));
            const double w = rint(__dsqrt_rn(__dmul_rn(target, ar)));
            const double h = rint(__dsqrt_rn(__ddiv_rn(target, ar)));
            if (w > 0.0 && w <= side && h > 0.0 && h <= side) {
                cw = (int)w;
                ch = (int)h;
                ci = (int)below(r.z, AUG_SIDE - (unsigned int)ch + 1u);
                cj = (int)below(r.w, AUG_SIDE - (unsigned int)cw + 1u);
                found = true;
            }
        }
        if (!found) {
            int w = AUG_SIDE, h = AUG_SIDE;
            if (1.0 < cfg.ratio_lo) {
                h = (int)rint(__ddiv_rn(side, cfg.ratio_lo));
            } else if (1.0 > cfg.ratio_hi) {
                w = (int)rint(__dmul_rn(side, cfg.ratio_hi));
            }
            ci = (AUG_SIDE - h) / 2;
            cj = (AUG_SIDE - w) / 2;
            ch = h;
            cw = w;
        }
        SimclrParams p;
        p.crop_i = ci;
        p.crop_j = cj;
        p.crop_h = ch;
        p.crop_w = cw;
        Philox4 r = aug_draw(index, epoch, view, AUG_OP_SIMCLR, AUG_CROP_ATTEMPTS, k0, k1);
        p.flip = u01_f32(r.x) < cfg.p_flip ? 1u : 0u;
        p.jitter = u01_f32(r.y) < cfg.p_jitter ? 1u : 0u;
        p.brightness = lerp_rn(cfg.factor_lo, cfg.factor_hi, u01_f32(r.z));
        p.contrast = lerp_rn(cfg.factor_lo, cfg.factor_hi, u01_f32(r.w));
        r = aug_draw(index, epoch, view, AUG_OP_SIMCLR, AUG_CROP_ATTEMPTS + 1u, k0, k1);
        p.saturation = lerp_rn(cfg.factor_lo, cfg.factor_hi, u01_f32(r.x));
        p.hue = lerp_rn(-cfg.hue_max, cfg.hue_max, u01_f32(r.y));
        p.gray = u01_f32(r.z) < cfg.p_gray ? 1u : 0u;
        p.sigma = lerp_rn(cfg.sigma_lo, cfg.sigma_hi, u01_f32(r.w));
        out[t] = p;
    }
}

__device__ __forceinline__ float clamp01(float x) { return fminf(fmaxf(x, 0.0f), 1.0f); }
__device__ __forceinline__ float gray_of(float r, float g, float b) { return 0.2989f * r + 0.587f * g + 0.114f * b; }

// torch's bilinear source index (align_corners = false) for a crop of in_len pixels resized to 32.
__device__ __forceinline__ void bilinear_src(int dst, int in_len, int* i0, int* i1, float* l) {
    const float scale = (float)in_len / (float)AUG_SIDE;
    const float s = fmaxf(scale * ((float)dst + 0.5f) - 0.5f, 0.0f);
    const int a = (int)s;
    *i0 = a;
    *i1 = a < in_len - 1 ? a + 1 : a;
    *l = s - (float)a;
}

__device__ __forceinline__ void rgb_to_hsv(float r, float g, float b, float* h, float* s, float* v) {
    const float maxc = fmaxf(fmaxf(r, g), b);
    const float minc = fminf(fminf(r, g), b);
    const bool eqc = maxc == minc;
    const float cr = maxc - minc;
    *s = cr / (eqc ? 1.0f : maxc);
    const float crd = eqc ? 1.0f : cr;
    const float rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
    float hh;
    if (maxc == r)
        hh = bc - gc;
    else if (maxc == g)
        hh = 2.0f + rc - bc;
    else
        hh = 4.0f + gc - rc;
    *h = fmodf(hh / 6.0f + 1.0f, 1.0f);
    *v = maxc;
}

__device__ __forceinline__ void hsv_to_rgb(float h, float s, float v, float* r, float* g, float* b) {
    const float h6 = h * 6.0f;
    const float fi = floorf(h6);
    const float f = h6 - fi;
    int i = ((int)fi) % 6;
    if (i < 0) i += 6;
    const float p = clamp01(v * (1.0f - s));
    const float q = clamp01(v * (1.0f - s * f));
    const float t = clamp01(v * (1.0f - s * (1.0f - f)));
    switch (i) {
        case 0: *r = v; *g = t; *b = p; break;
        case 1: *r = q; *g = v; *b = p; break;
        case 2: *r = p; *g = v; *b = t; break;
        case 3: *r = p; *g = q; *b = v; break;
        case 4: *r = t; *g = p; *b = v; break;
        default: *r = v; *g = p; *b = q; break;
    }
}

__device__ __forceinline__ int reflect32(int i) { return i < 0 ? -i : (i >= AUG_SIDE ? 2 * AUG_SIDE - 2 - i : i); }

// One block per image (grid-stride over images); blockDim.x must be a multiple of 32, at most 1024.
// out: n x 32 x 32 x 3 values (NHWC, f32 or bf16). data: the resident u8 data set. items: (index, view).
__device__ __forceinline__ void store_px(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_px(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

template <typename T>
__device__ __forceinline__ void simclr_apply(T* out, const unsigned char* data, const unsigned int* items,
                                             const SimclrParams* params, unsigned int n) {
    __shared__ float img[AUG_BYTES];
    __shared__ float tmp[AUG_BYTES];
    __shared__ float scratch[32];
    for (unsigned int b = blockIdx.x; b < n; b += gridDim.x) {
        const SimclrParams p = params[b];
        const unsigned char* src = data + (unsigned long long)items[2 * b] * AUG_BYTES;
        // Crop + bilinear resize + flip.
        for (int q = threadIdx.x; q < AUG_PIXELS; q += blockDim.x) {
            const int y = q / AUG_SIDE, x = q % AUG_SIDE;
            const int xs = p.flip ? AUG_SIDE - 1 - x : x;
            int y0, y1, x0, x1;
            float ly, lx;
            bilinear_src(y, p.crop_h, &y0, &y1, &ly);
            bilinear_src(xs, p.crop_w, &x0, &x1, &lx);
            y0 += p.crop_i; y1 += p.crop_i; x0 += p.crop_j; x1 += p.crop_j;
            for (int c = 0; c < 3; ++c) {
                const unsigned char* pl = src + c * AUG_PIXELS;
                const float a00 = pl[y0 * AUG_SIDE + x0] / 255.0f, a01 = pl[y0 * AUG_SIDE + x1] / 255.0f;
                const float a10 = pl[y1 * AUG_SIDE + x0] / 255.0f, a11 = pl[y1 * AUG_SIDE + x1] / 255.0f;
                const float top = (1.0f - lx) * a00 + lx * a01;
                const float bot = (1.0f - lx) * a10 + lx * a11;
                img[q * 3 + c] = (1.0f - ly) * top + ly * bot;
            }
        }
        __syncthreads();
        if (p.jitter) {
            float part = 0.0f;
            for (int q = threadIdx.x; q < AUG_PIXELS; q += blockDim.x) {
                for (int c = 0; c < 3; ++c) img[q * 3 + c] = clamp01(p.brightness * img[q * 3 + c]);
                part += gray_of(img[q * 3], img[q * 3 + 1], img[q * 3 + 2]);
            }
            const float mean = block_sum_f32(part, scratch) / (float)AUG_PIXELS;
            const float m = (1.0f - p.contrast) * mean;
            for (int q = threadIdx.x; q < AUG_PIXELS; q += blockDim.x) {
                float r = clamp01(p.contrast * img[q * 3] + m);
                float g = clamp01(p.contrast * img[q * 3 + 1] + m);
                float bl = clamp01(p.contrast * img[q * 3 + 2] + m);
                const float gs = (1.0f - p.saturation) * gray_of(r, g, bl);
                r = clamp01(p.saturation * r + gs);
                g = clamp01(p.saturation * g + gs);
                bl = clamp01(p.saturation * bl + gs);
                float h, s, v;
                rgb_to_hsv(r, g, bl, &h, &s, &v);
                h = h + p.hue;
                h = h - floorf(h);
                hsv_to_rgb(h, s, v, &r, &g, &bl);
                img[q * 3] = r;
                img[q * 3 + 1] = g;
                img[q * 3 + 2] = bl;
            }
        }
        if (p.gray) {
            for (int q = threadIdx.x; q < AUG_PIXELS; q += blockDim.x) {
                const float g = gray_of(img[q * 3], img[q * 3 + 1], img[q * 3 + 2]);
                img[q * 3] = g;
                img[q * 3 + 1] = g;
                img[q * 3 + 2] = g;
            }
        }
        __syncthreads();
        // Gaussian blur 3x3, separable, reflect padding: vertical into tmp, horizontal into out.
        const float e = expf(-0.5f / (p.sigma * p.sigma));
        const float sum = 1.0f + 2.0f * e;
        const float k0 = e / sum, k1 = 1.0f / sum;
        for (int q = threadIdx.x; q < AUG_PIXELS; q += blockDim.x) {
            const int y = q / AUG_SIDE, x = q % AUG_SIDE;
            const int ya = reflect32(y - 1), yb = reflect32(y + 1);
            for (int c = 0; c < 3; ++c)
                tmp[q * 3 + c] = k0 * img[(ya * AUG_SIDE + x) * 3 + c] + k1 * img[q * 3 + c] +
                                 k0 * img[(yb * AUG_SIDE + x) * 3 + c];
        }
        __syncthreads();
        T* o = out + (unsigned long long)b * AUG_BYTES;
        for (int q = threadIdx.x; q < AUG_PIXELS; q += blockDim.x) {
            const int y = q / AUG_SIDE, x = q % AUG_SIDE;
            const int xa = reflect32(x - 1), xb = reflect32(x + 1);
            for (int c = 0; c < 3; ++c)
                store_px(&o[q * 3 + c], k0 * tmp[(y * AUG_SIDE + xa) * 3 + c] + k1 * tmp[q * 3 + c] +
                                            k0 * tmp[(y * AUG_SIDE + xb) * 3 + c]);
        }
        __syncthreads();  // img/tmp are reused by the next image of this block
    }
}

extern "C" __global__ void simclr_apply_f32(float* out, const unsigned char* data, const unsigned int* items,
                                            const SimclrParams* params, unsigned int n) {
    simclr_apply(out, data, items, params, n);
}

extern "C" __global__ void simclr_apply_bf16(__nv_bfloat16* out, const unsigned char* data,
                                             const unsigned int* items, const SimclrParams* params, unsigned int n) {
    simclr_apply(out, data, items, params, n);
}

// Pad 4 (zeros) + random 32x32 crop + horizontal flip; one thread per output pixel (3 channels).
template <typename T>
__device__ __forceinline__ void padcrop(T* out, const unsigned char* data, const unsigned int* items, unsigned int n,
                                        unsigned int k0, unsigned int k1, unsigned int epoch) {
    const unsigned long long total = (unsigned long long)n * AUG_PIXELS;
    for (unsigned long long t = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; t < total;
         t += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned int b = (unsigned int)(t / AUG_PIXELS);
        const int q = (int)(t % AUG_PIXELS);
        const unsigned int index = items[2 * b], view = items[2 * b + 1];
        const Philox4 r = aug_draw(index, epoch, view, AUG_OP_PADCROP, 0, k0, k1);
        const int dy = (int)below(r.x, 2 * AUG_PAD + 1), dx = (int)below(r.y, 2 * AUG_PAD + 1);
        const bool flip = u01_f32(r.z) < 0.5f;
        const int y = q / AUG_SIDE, x = q % AUG_SIDE;
        const int xs = flip ? AUG_SIDE - 1 - x : x;
        const int sy = y + dy - AUG_PAD, sx = xs + dx - AUG_PAD;
        const bool inside = sy >= 0 && sy < AUG_SIDE && sx >= 0 && sx < AUG_SIDE;
        const unsigned char* src = data + (unsigned long long)index * AUG_BYTES;
        for (int c = 0; c < 3; ++c)
            store_px(&out[t * 3 + c], inside ? src[c * AUG_PIXELS + sy * AUG_SIDE + sx] / 255.0f : 0.0f);
    }
}

extern "C" __global__ void padcrop_f32(float* out, const unsigned char* data, const unsigned int* items,
                                       unsigned int n, unsigned int k0, unsigned int k1, unsigned int epoch) {
    padcrop(out, data, items, n, k0, k1, epoch);
}

extern "C" __global__ void padcrop_bf16(__nv_bfloat16* out, const unsigned char* data, const unsigned int* items,
                                        unsigned int n, unsigned int k0, unsigned int k1, unsigned int epoch) {
    padcrop(out, data, items, n, k0, k1, epoch);
}

// The clean view: u8 planar -> NHWC in [0, 1].
template <typename T>
__device__ __forceinline__ void clean(T* out, const unsigned char* data, const unsigned int* items, unsigned int n) {
    const unsigned long long total = (unsigned long long)n * AUG_PIXELS;
    for (unsigned long long t = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; t < total;
         t += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned int b = (unsigned int)(t / AUG_PIXELS);
        const int q = (int)(t % AUG_PIXELS);
        const unsigned char* src = data + (unsigned long long)items[2 * b] * AUG_BYTES;
        for (int c = 0; c < 3; ++c) store_px(&out[t * 3 + c], src[c * AUG_PIXELS + q] / 255.0f);
    }
}

extern "C" __global__ void clean_f32(float* out, const unsigned char* data, const unsigned int* items, unsigned int n) {
    clean(out, data, items, n);
}

extern "C" __global__ void clean_bf16(__nv_bfloat16* out, const unsigned char* data, const unsigned int* items,
                                      unsigned int n) {
    clean(out, data, items, n);
}
