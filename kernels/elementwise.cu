// targets: sm_80 sm_90
// Elementwise ops. Grid-stride loops so any launch shape covers any n.
#include "common.cuh"

extern "C" __global__ void add_f32(float* out, const float* a, const float* b, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        out[i] = a[i] + b[i];
}

extern "C" __global__ void scale_f32(float* out, const float* a, float s, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        out[i] = a[i] * s;
}

extern "C" __global__ void relu_fwd_f32(float* out, const float* x, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        out[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

// Gradient passes where the forward input was positive (PyTorch's convention: zero at x == 0).
extern "C" __global__ void relu_bwd_f32(float* gx, const float* gy, const float* x, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        gx[i] = x[i] > 0.0f ? gy[i] : 0.0f;
}

// AdamW as torch.optim.AdamW computes it: decoupled decay first, then the bias-corrected step.
// bc1 = 1 - beta1^t and bc2_sqrt = sqrt(1 - beta2^t) are computed on the host in f64.
__device__ __forceinline__ void adamw_elem(float* p, const float* g, float* m, float* v, unsigned long long i,
                                           float lr, float beta1, float beta2, float eps, float weight_decay,
                                           float bc1, float bc2_sqrt) {
    float pi = p[i] * (1.0f - lr * weight_decay);
    const float gi = g[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) / bc2_sqrt + eps;
    pi -= (lr / bc1) * (mi / denom);
    p[i] = pi;
}

extern "C" __global__ void adamw_f32(float* p, const float* g, float* m, float* v, float lr, float beta1,
                                     float beta2, float eps, float weight_decay, float bc1, float bc2_sqrt,
                                     unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        adamw_elem(p, g, m, v, i, lr, beta1, beta2, eps, weight_decay, bc1, bc2_sqrt);
}

// One AdamW launch for a whole model (a ResNet step launched one adamw_f32 per tensor: 64 for ResNet-18,
// 97 for ResNet-32, each a few microseconds on a GPU): block b updates chunk b, a range of at most a few
// thousand elements of one tensor; `decay` says whether the tensor takes the weight decay (not 1-D ones).
struct AdamwChunk {
    float* p;
    const float* g;
    float* m;
    float* v;
    unsigned long long n;
    unsigned long long decay;
};

extern "C" __global__ void adamw_multi_f32(const AdamwChunk* chunks, float lr, float beta1, float beta2, float eps,
                                           float weight_decay, float bc1, float bc2_sqrt) {
    const AdamwChunk c = chunks[blockIdx.x];
    const float wd = c.decay ? weight_decay : 0.0f;
    for (unsigned long long i = threadIdx.x; i < c.n; i += blockDim.x)
        adamw_elem(c.p, c.g, c.m, c.v, i, lr, beta1, beta2, eps, wd, bc1, bc2_sqrt);
}

// y[r, j] += b[j] over a row-major [rows, cols] matrix (linear-layer bias).
extern "C" __global__ void bias_add_f32(float* y, const float* b, unsigned long long rows, unsigned int cols) {
    const unsigned long long n = rows * cols;
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        y[i] += b[i % cols];
}

// y += x (gradient accumulation where a tensor feeds two consumers).
extern "C" __global__ void add_inplace_f32(float* y, const float* x, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        y[i] += x[i];
}

// y = bf16(x), round to nearest even (the operands of the v6 tensor-core convolutions). Four per thread
// step when both buffers are whole allocations (16- and 8-byte aligned); n need not be a multiple of 4.
extern "C" __global__ void cast_bf16_f32(unsigned short* y, const float* x, unsigned long long n) {
    const unsigned long long n4 = n / 4;
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n4;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const float4 v = reinterpret_cast<const float4*>(x)[i];
        reinterpret_cast<uint2*>(y)[i] = make_uint2(pack_bf16x2(v.x, v.y), pack_bf16x2(v.z, v.w));
    }
    const unsigned long long t = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (t < n - 4 * n4) {
        unsigned short h;
        asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(x[4 * n4 + t]));
        y[4 * n4 + t] = h;
    }
}

// The 3-channel stem's grad-weight on the v6 kernels, which need C % 8 == 0 in bf16: the input with its
// channels padded to cp with zeros and cast to bf16 (pad_channels_bf16_f32), then the padded weight
// gradient cut back to its c channels (unpad_channels_f32). Rows: pixels, or weight taps; channels fastest.
extern "C" __global__ void pad_channels_bf16_f32(unsigned short* y, const float* x, unsigned long long rows, int c,
                                                 int cp) {
    const unsigned long long n = rows * cp;
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned long long r = i / cp;
        const int j = (int)(i - r * cp);
        unsigned short h = 0;
        if (j < c) asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(x[r * c + j]));
        y[i] = h;
    }
}

// The same padding in fp32 for the tf32 grad-weight (v6 takes C % 4 == 0 there).
extern "C" __global__ void pad_channels_f32(float* y, const float* x, unsigned long long rows, int c, int cp) {
    const unsigned long long n = rows * cp;
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned long long r = i / cp;
        const int j = (int)(i - r * cp);
        y[i] = j < c ? x[r * c + j] : 0.0f;
    }
}

extern "C" __global__ void unpad_channels_f32(float* y, const float* x, unsigned long long rows, int c, int cp) {
    const unsigned long long n = rows * c;
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned long long r = i / c;
        y[i] = x[r * cp + (i - r * c)];
    }
}
