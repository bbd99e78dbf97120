// targets: sm_80 sm_90
// Row reductions over a row-major [rows, cols] matrix: one block per row (grid-stride over rows).
#include "common.cuh"

__device__ __forceinline__ float row_total(const float* row, unsigned int cols, float* scratch) {
    float acc = 0.0f;
    if ((cols & 3u) == 0u && (((unsigned long long)row) & 15ull) == 0ull) {
        const float4* r4 = reinterpret_cast<const float4*>(row);
        for (unsigned int c = threadIdx.x; c < cols / 4; c += blockDim.x) {
            const float4 q = r4[c];
            acc += (q.x + q.y) + (q.z + q.w);
        }
    } else {
        for (unsigned int c = threadIdx.x; c < cols; c += blockDim.x) acc += row[c];
    }
    return block_sum_f32(acc, scratch);
}

extern "C" __global__ void row_sum_f32(float* out, const float* x, unsigned int rows, unsigned int cols) {
    __shared__ float scratch[32];
    for (unsigned int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float t = row_total(x + (unsigned long long)r * cols, cols, scratch);
        if (threadIdx.x == 0) out[r] = t;
    }
}

extern "C" __global__ void row_mean_f32(float* out, const float* x, unsigned int rows, unsigned int cols) {
    __shared__ float scratch[32];
    for (unsigned int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float t = row_total(x + (unsigned long long)r * cols, cols, scratch);
        if (threadIdx.x == 0) out[r] = cols > 0 ? t / (float)cols : 0.0f;
    }
}

// Column sums of [rows, cols] (the bias gradient of a linear layer): one thread per column, rows
// split over blockIdx.y with atomics into a zeroed `out`.
extern "C" __global__ void col_sum_f32(float* out, const float* x, unsigned int rows, unsigned int cols,
                                       unsigned int rows_per_block) {
    const unsigned int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    const unsigned int r0 = blockIdx.y * rows_per_block;
    const unsigned int r1 = min(rows, r0 + rows_per_block);
    float acc = 0.0f;
    for (unsigned int r = r0; r < r1; ++r) acc += x[(unsigned long long)r * cols + c];
    atomicAdd(out + c, acc);
}
