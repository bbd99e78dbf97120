// targets: sm_80 sm_90
// Softmax cross-entropy of the linear probe and the stage-2 classifier on the GPU, so that a training step
// reads nothing back (the logits, the loss and the gradient stay on the device). The CPU reference is
// cross_entropy_f32 in src/loss/cross_entropy.rs (f64 inside; here fp32 with one exponential per logit).
#include "common.cuh"

// loss[0] = mean over rows of -log softmax(logits[r])[labels[r]], g = (softmax - one-hot) / rows, for
// logits [rows, classes]. One block (the batches of a training step): warp w takes rows w, w + nwarps, ...;
// a warp's lanes stride the classes (max, then Σ e^(x - max)); each warp sums its rows' losses in order and
// the block adds the warps' sums in order, so the loss has the same bits on every run. A label outside
// 0..classes gives a NaN loss (the caller stops the run on it; the host checks labels before launching).
extern "C" __global__ void cross_entropy_f32(float* loss, float* g, const float* logits, const int* labels, int rows,
                                             int classes) {
    __shared__ float part[32];
    const int lane = threadIdx.x % IPDPP_WARP, warp = threadIdx.x / IPDPP_WARP;
    const int nwarps = blockDim.x / IPDPP_WARP;
    const float inv = 1.0f / (float)rows;
    float sum = 0.0f;  // this warp's rows (lane 0's copy is the one used)
    for (int r = warp; r < rows; r += nwarps) {
        const float* x = logits + (long long)r * classes;
        float* gr = g + (long long)r * classes;
        // The largest logit and its first column: e^(x - max) sums to s = 1 + t, t over the other columns,
        // so that a confident row's loss is log1p(t) and its label's gradient -t / s, not the difference of
        // two numbers near 1 (the loss of such a row was off by 3.5e-4 relative).
        float mx = __uint_as_float(0xff800000u);  // -inf
        int am = classes;
        for (int c = lane; c < classes; c += IPDPP_WARP)
            if (x[c] > mx || (x[c] == mx && c < am)) mx = x[c], am = c;
#pragma unroll
        for (int o = IPDPP_WARP / 2; o > 0; o >>= 1) {
            const float om = __shfl_xor_sync(0xffffffffu, mx, o);
            const int oa = __shfl_xor_sync(0xffffffffu, am, o);
            if (om > mx || (om == mx && oa < am)) mx = om, am = oa;
        }
        float t = 0.0f;
        for (int c = lane; c < classes; c += IPDPP_WARP)
            if (c != am) t += expf(x[c] - mx);
        t = warp_sum_f32(t);
        const float sum_e = 1.0f + t;
        const int l = labels[r];
        for (int c = lane; c < classes; c += IPDPP_WARP) {
            const float e = c == am ? 1.0f : expf(x[c] - mx);
            const float num = c != l ? e : c == am ? -t : e - sum_e;
            gr[c] = num / sum_e * inv;
        }
        sum += (l >= 0 && l < classes) ? (mx - x[l]) + log1pf(t) : __uint_as_float(0x7fc00000u);  // NaN
    }
    if (lane == 0) part[warp] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        float t = 0.0f;
        for (int w = 0; w < nwarps; ++w) t += part[w];
        loss[0] = t * inv;
    }
}
