// targets: sm_80 sm_90
// Global average pooling and ResNet-32's option-A shortcut, channels last.
#include "common.cuh"

// x [n, hw, c] → y [n, c]; one thread per (n, c), consecutive threads read consecutive channels.
extern "C" __global__ void avgpool_fwd_f32(float* y, const float* x, int n, int hw, int c) {
    const long long total = (long long)n * c;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long img = i / c;
        const int ch = i % c;
        const float* p = x + img * hw * c + ch;
        float acc = 0.0f;
        for (int q = 0; q < hw; ++q) acc += p[(long long)q * c];
        y[i] = acc / (float)hw;
    }
}

extern "C" __global__ void avgpool_bwd_f32(float* gx, const float* gy, int n, int hw, int c) {
    const long long total = (long long)n * hw * c;
    const float inv = 1.0f / (float)hw;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long img = i / ((long long)hw * c);
        gx[i] = gy[img * c + i % c] * inv;
    }
}

// x [n, h, w, c] → y [n, ceil(h/2), ceil(w/2), c + 2·pad]: every second pixel, zero channels each side.
extern "C" __global__ void shortcut_a_fwd_f32(float* y, const float* x, int n, int h, int w, int c, int pad) {
    const int oh = (h + 1) / 2, ow = (w + 1) / 2, oc = c + 2 * pad;
    const long long total = (long long)n * oh * ow * oc;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int ch = i % oc;
        long long p = i / oc;
        const int j = p % ow; p /= ow;
        const int r = p % oh;
        const long long img = p / oh;
        const int src_c = ch - pad;
        y[i] = (src_c >= 0 && src_c < c) ? x[((img * h + 2 * r) * w + 2 * j) * c + src_c] : 0.0f;
    }
}

extern "C" __global__ void shortcut_a_bwd_f32(float* gx, const float* gy, int n, int h, int w, int c, int pad) {
    const int oh = (h + 1) / 2, ow = (w + 1) / 2, oc = c + 2 * pad;
    const long long total = (long long)n * h * w * c;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int ch = i % c;
        long long p = i / c;
        const int xx = p % w; p /= w;
        const int yy = p % h;
        const long long img = p / h;
        gx[i] = (yy % 2 == 0 && xx % 2 == 0) ? gy[((img * oh + yy / 2) * ow + xx / 2) * oc + pad + ch] : 0.0f;
    }
}
