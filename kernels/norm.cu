// targets: sm_80 sm_90
// Batch norm over channels-last activations x [rows, C]. Statistics in two passes (mean, then centred
// squares) from per-block partial sums reduced in double, so large batches do not lose the variance
// to cancellation. Training normalises with the biased variance and updates the running variance with
// the unbiased one, as PyTorch does.
#include "common.cuh"

// Block (32, 8): threadIdx.x walks 32 channels, threadIdx.y 8 row lanes; blockIdx.y picks a row chunk.
// mode 0: Σ x; mode 1: Σ (x − mean)²; mode 2: Σ gy and Σ gy·x̂ (x̂ from mean, rstd).
__device__ __forceinline__ void partial_sums(float* out_a, float* out_b, const float* x, const float* gy,
                                             const float* mean, const float* rstd, int rows, int C,
                                             int rows_per_block, int mode) {
    __shared__ float sa[8][33];
    __shared__ float sb[8][33];
    const int c = blockIdx.x * 32 + threadIdx.x;
    const int r0 = blockIdx.y * rows_per_block;
    const int r1 = min(rows, r0 + rows_per_block);
    float a = 0.0f, b = 0.0f;
    if (c < C) {
        const float m = (mode == 0) ? 0.0f : mean[c];
        const float rs = (mode == 2) ? rstd[c] : 1.0f;
        for (int r = r0 + threadIdx.y; r < r1; r += 8) {
            const float v = x[(long long)r * C + c];
            if (mode == 0) {
                a += v;
            } else if (mode == 1) {
                const float t = v - m;
                a += t * t;
            } else {
                const float g = gy[(long long)r * C + c];
                a += g;
                b += g * (v - m) * rs;
            }
        }
    }
    sa[threadIdx.y][threadIdx.x] = a;
    sb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float ta = 0.0f, tb = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            ta += sa[i][threadIdx.x];
            tb += sb[i][threadIdx.x];
        }
        out_a[(long long)blockIdx.y * C + c] = ta;
        if (out_b) out_b[(long long)blockIdx.y * C + c] = tb;
    }
}

extern "C" __global__ void batchnorm_sum_partial_f32(float* part, const float* x, int rows, int C, int rows_per_block) {
    partial_sums(part, nullptr, x, nullptr, nullptr, nullptr, rows, C, rows_per_block, 0);
}

extern "C" __global__ void batchnorm_sq_partial_f32(float* part, const float* x, const float* mean, int rows, int C,
                                                    int rows_per_block) {
    partial_sums(part, nullptr, x, nullptr, mean, nullptr, rows, C, rows_per_block, 1);
}

extern "C" __global__ void batchnorm_bwd_partial_f32(float* part_g, float* part_gx, const float* gy, const float* x,
                                                     const float* mean, const float* rstd, int rows, int C,
                                                     int rows_per_block) {
    partial_sums(part_g, part_gx, x, gy, mean, rstd, rows, C, rows_per_block, 2);
}

// mean[c] = Σ_parts / rows
extern "C" __global__ void batchnorm_mean_f32(float* mean, const float* part, int parts, int C, int rows) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double s = 0.0;
    for (int i = 0; i < parts; ++i) s += part[(long long)i * C + c];
    mean[c] = (float)(s / rows);
}

extern "C" __global__ void batchnorm_var_f32(float* rstd, float* running_mean, float* running_var, const float* mean,
                                             const float* part, int parts, int C, int rows, float eps, float momentum) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double s = 0.0;
    for (int i = 0; i < parts; ++i) s += part[(long long)i * C + c];
    const double var = s / rows;
    rstd[c] = (float)(1.0 / sqrt(var + (double)eps));
    const double unbiased = rows > 1 ? var * rows / (rows - 1.0) : var;
    running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + (double)momentum * mean[c]);
    running_var[c] = (float)((1.0 - momentum) * running_var[c] + (double)momentum * unbiased);
}

extern "C" __global__ void batchnorm_eval_rstd_f32(float* rstd, const float* running_var, int C, float eps) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c < C) rstd[c] = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
}

extern "C" __global__ void batchnorm_apply_f32(float* y, const float* x, const float* mean, const float* rstd,
                                               const float* gamma, const float* beta, long long rows, int C) {
    const long long total = rows * C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int c = i % C;
        y[i] = (x[i] - mean[c]) * rstd[c] * gamma[c] + beta[c];
    }
}

// ggamma = Σ gy·x̂, gbeta = Σ gy
extern "C" __global__ void batchnorm_bwd_reduce_f32(float* ggamma, float* gbeta, const float* part_g,
                                                   const float* part_gx, int parts, int C) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double a = 0.0, b = 0.0;
    for (int i = 0; i < parts; ++i) {
        a += part_g[(long long)i * C + c];
        b += part_gx[(long long)i * C + c];
    }
    gbeta[c] = (float)a;
    ggamma[c] = (float)b;
}

// gx = γ·rstd/n · (n·gy − Σgy − x̂·Σ(gy·x̂))
extern "C" __global__ void batchnorm_bwd_apply_f32(float* gx, const float* gy, const float* x, const float* mean,
                                                   const float* rstd, const float* gamma, const float* ggamma,
                                                   const float* gbeta, long long rows, int C) {
    const long long total = rows * C;
    const float inv_n = 1.0f / (float)rows;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int c = i % C;
        const float xh = (x[i] - mean[c]) * rstd[c];
        gx[i] = gamma[c] * rstd[c] * (gy[i] - inv_n * gbeta[c] - xh * inv_n * ggamma[c]);
    }
}
