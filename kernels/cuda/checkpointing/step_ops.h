// The checkpointing experiment's training-step ops on CUDA: RMS normalization (forward, backward), causal
// softmax (forward, backward, in place), dropout from the counter-based mask of kernels/common/dropout_hash.h,
// the column sum of a product (a bias-style gradient) and the mean squared error. Each mirrors the CPU loop of
// experiments/checkpointing/ops.cpp: the same formula and the same accumulation type, so the two devices differ
// only by summation order (and dropout masks are bit for bit the CPU's).
// Letters: T rows, D (or C) columns, G matrices of (S, S), n elements. All arrays are device pointers, row-major,
// contiguous; `dtype` is the element type of EVERY pointer of a call: f32 (float), f64 (double), bf16 (16-bit
// bfloat16 bits, as uint16_t on the host). Accumulation: float for f32 and bf16 (widened on load, rounded once on
// store), double for f64; column_sum_of_product and mean_squared_error accumulate in double for every dtype.
// Outputs are written, never read first. Every launcher is asynchronous on `stream` (a cudaStream_t; nullptr is
// the legacy default stream), allocates no device memory, throws std::invalid_argument for a size < 1, a null
// pointer or an unknown dtype (naming the argument and its value) before any CUDA call, and std::runtime_error
// when a launch fails. Memory-bound: every op reads its inputs once or twice (a second pass over a row hits L2)
// and writes its output once.
//   bench --filter checkpointing --device cuda --profile gpu
#pragma once

#include <cstdint>

namespace talklab::cuda::step_ops {

enum class Dtype { f32, f64, bf16 };

// x, out: (T, D). out[t, j] = x[t, j] * r_t, r_t = 1 / sqrt(mean_j(x[t, j]^2) + eps).
void rms_normalize_forward(Dtype dtype, const void* x, void* out, int64_t T, int64_t D, double eps, void* stream);

// x, grad_y, dx: (T, D). dx[t, j] = r_t * g[t, j] - x[t, j] * r_t^3 * (sum_j g[t, j] x[t, j]) / D.
void rms_normalize_backward(Dtype dtype, const void* x, const void* grad_y, void* dx, int64_t T, int64_t D,
                            double eps, void* stream);

// scores: G contiguous (S, S) matrices (matrix g at scores + g * S * S), in place: row i becomes the softmax over
// j <= i of scale * scores[i, j] (max-subtracted), entries j > i become 0.
void causal_softmax_forward(Dtype dtype, void* scores, int64_t G, int64_t S, double scale, void* stream);

// prob, dprob: G contiguous (S, S) matrices each, not overlapping. In place on dprob:
// dprob[i, j] := scale * prob[i, j] * (dprob[i, j] - sum_{k<=i} prob[i, k] dprob[i, k]) for j <= i, 0 for j > i.
void causal_softmax_backward(Dtype dtype, const void* prob, void* dprob, int64_t G, int64_t S, double scale,
                             void* stream);

// x, out: n elements (out == x is allowed). out[i] = dropout_keep(seed, i, p) ? x[i] * scale : 0 with
// scale = 1 / (1 - p) computed in double and cast to the accumulation type (as the CPU does). p in [0, 1).
void dropout_apply(Dtype dtype, const void* x, void* out, int64_t n, uint64_t seed, double p, void* stream);

// a, b: (T, C); out: (1, C). out[0, j] = sum_t a[t, j] * b[t, j], in double, in a fixed order (deterministic: no
// atomics), cast to the accumulation type and then stored.
void column_sum_of_product(Dtype dtype, const void* a, const void* b, void* out, int64_t T, int64_t C, void* stream);

// h, y: n elements; out: one element. out[0] = mean_i (h[i] - y[i])^2, in double, in a fixed order
// (deterministic). Partial sums go through a fixed-size __device__ array shared by all calls: two calls running
// concurrently on different streams would race on it (the experiment runs one stream).
void mean_squared_error(Dtype dtype, const void* h, const void* y, void* out, int64_t n, void* stream);

}  // namespace talklab::cuda::step_ops
