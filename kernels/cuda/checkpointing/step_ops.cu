// The checkpointing experiment's training-step ops (see step_ops.h for what each computes and the layouts).
// Written for correctness by reading, not speed (a first version, written without a GPU; not yet measured;
// checked on the CPU by the SIMT emulator, docs/simt.md, ctest -R 'Simt\..*StepOps'):
//   row ops (RMS norm, causal softmax): one thread block per row, blockDim = the row length rounded up to a warp,
//     at most 256; a row of up to 16384 elements is never held on chip, each pass re-reads it from global memory
//     (L1/L2 keep it): norm forward 2 passes, backward 2, softmax forward 3 (max, sum of exp, write), backward 2.
//     Memory-bound: e.g. softmax forward moves ~3 reads + 1 write per element.
//   dropout: a grid-stride elementwise loop; the mask is dropout_keep(seed, i, p), the CPU's own function.
//   column_sum_of_product: a block of 32 columns x 16 row groups; each thread sums its rows in a fixed order, the
//     16 partials are added in a fixed order through shared memory: deterministic, no atomics, no scratch.
//   mean_squared_error: a grid of at most kMseBlocks blocks writes one partial sum each to a __device__ array, then
//     one block adds them in a fixed order: deterministic, no allocation.
// ptxas -v (sm_90, CUDA 13.0.88), f32 / f64 / bf16, no spills anywhere: rms forward 26/27/26 registers, backward
// 30/36/29; softmax forward 29/28/29, backward 26/24/26 (32 or 64 bytes smem); dropout 23/26/12; column sums 32 (4 KB
// smem); MSE partials 32/32/22 and final sum 24.
//   bench --filter checkpointing --device cuda --profile gpu
#include "kernels/cuda/checkpointing/step_ops.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/common/dropout_hash.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace talklab::cuda::step_ops {

namespace {

constexpr int kMaxThreads = 256;                // per block, for the row ops, dropout and the MSE
constexpr int kMaxWarps = kMaxThreads / 32;
constexpr int64_t kMaxRowBlocks = 1 << 20;      // row kernels loop over rows beyond this many blocks
constexpr int64_t kMaxElementwiseBlocks = 4096; // dropout: a grid-stride loop past this
constexpr int kColTile = 32;                    // column_sum_of_product: columns per block (one warp's width)
constexpr int kRowGroups = 16;                  // ... and row groups per block (each a fixed subsequence of rows)
constexpr int kMseBlocks = 1024;                // mean_squared_error: partial sums, at most

// The accumulation type: double for double, float for float and bf16.
template <class E>
struct AccOf {
  using type = float;
};
template <>
struct AccOf<double> {
  using type = double;
};
template <class E>
using Acc = typename AccOf<E>::type;

__device__ __forceinline__ float load(const float* p) { return *p; }
__device__ __forceinline__ double load(const double* p) { return *p; }
__device__ __forceinline__ float load(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(double* p, double v) { *p = v; }
__device__ __forceinline__ void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16(v); }  // RNE

__device__ __forceinline__ float exp_acc(float v) { return expf(v); }
__device__ __forceinline__ double exp_acc(double v) { return exp(v); }
__device__ __forceinline__ float sqrt_acc(float v) { return sqrtf(v); }
__device__ __forceinline__ double sqrt_acc(double v) { return sqrt(v); }

struct Sum {
  template <class A>
  __device__ A operator()(A a, A b) const { return a + b; }
};
struct Max {
  template <class A>
  __device__ A operator()(A a, A b) const { return b > a ? b : a; }
};

// Block-wide reduction (blockDim.x a multiple of 32, at most kMaxThreads), the result in every thread. A fixed
// tree, so the result does not depend on timing. The leading barrier lets a block call it again with the same
// `slots` (kMaxWarps entries) once every thread has read the previous result.
template <class A, class Op>
__device__ A block_reduce(A v, Op op, A* slots) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
  __syncthreads();
  if ((threadIdx.x & 31) == 0) slots[threadIdx.x >> 5] = v;
  __syncthreads();
  A r = slots[0];
  const int warps = static_cast<int>(blockDim.x >> 5);
  for (int w = 1; w < warps; ++w) r = op(r, slots[w]);
  return r;
}

// x, out: (T, D). One block per row.
template <class E>
__global__ void __launch_bounds__(kMaxThreads)
    rms_normalize_forward_kernel(const E* __restrict__ x, E* __restrict__ out, int64_t T, int64_t D, Acc<E> eps) {
  using A = Acc<E>;
  __shared__ A slots[kMaxWarps];
  for (int64_t t = blockIdx.x; t < T; t += gridDim.x) {
    const E* xr = x + t * D;
    E* orow = out + t * D;
    A ss = 0;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
      const A v = load(xr + j);
      ss += v * v;
    }
    ss = block_reduce(ss, Sum{}, slots);
    const A r = A(1) / sqrt_acc(ss / A(D) + eps);
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) store(orow + j, load(xr + j) * r);
  }
}

// x, grad_y, dx: (T, D). One block per row.
template <class E>
__global__ void __launch_bounds__(kMaxThreads)
    rms_normalize_backward_kernel(const E* __restrict__ x, const E* __restrict__ grad_y, E* __restrict__ dx,
                                  int64_t T, int64_t D, Acc<E> eps) {
  using A = Acc<E>;
  __shared__ A slots[kMaxWarps];
  for (int64_t t = blockIdx.x; t < T; t += gridDim.x) {
    const E* xr = x + t * D;
    const E* gr = grad_y + t * D;
    E* dr = dx + t * D;
    A ss = 0, dot = 0;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
      const A xv = load(xr + j);
      ss += xv * xv;
      dot += load(gr + j) * xv;
    }
    ss = block_reduce(ss, Sum{}, slots);
    dot = block_reduce(dot, Sum{}, slots);
    const A r = A(1) / sqrt_acc(ss / A(D) + eps);
    const A c = r * r * r * dot / A(D);
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) store(dr + j, r * load(gr + j) - load(xr + j) * c);
  }
}

// scores: rows = G * S rows of S; row r is row i = r % S of its matrix. One block per row, in place: every element
// is read and written by the same thread, and the reductions end before the first write.
template <class E>
__global__ void __launch_bounds__(kMaxThreads)
    causal_softmax_forward_kernel(E* __restrict__ scores, int64_t rows, int64_t S, Acc<E> scale) {
  using A = Acc<E>;
  __shared__ A slots[kMaxWarps];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    E* row = scores + r * S;
    const int64_t len = r % S + 1;  // the visible entries j <= i
    A mx = A(-INFINITY);
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) mx = Max{}(mx, load(row + j) * scale);
    mx = block_reduce(mx, Max{}, slots);
    A sum = 0;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) sum += exp_acc(load(row + j) * scale - mx);
    sum = block_reduce(sum, Sum{}, slots);
    const A inv = A(1) / sum;
    for (int64_t j = threadIdx.x; j < S; j += blockDim.x) {
      store(row + j, j < len ? exp_acc(load(row + j) * scale - mx) * inv : A(0));
    }
  }
}

// prob, dprob: rows = G * S rows of S each. One block per row, in place on dprob (same-thread read then write).
template <class E>
__global__ void __launch_bounds__(kMaxThreads)
    causal_softmax_backward_kernel(const E* __restrict__ prob, E* __restrict__ dprob, int64_t rows, int64_t S,
                                   Acc<E> scale) {
  using A = Acc<E>;
  __shared__ A slots[kMaxWarps];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const E* p = prob + r * S;
    E* d = dprob + r * S;
    const int64_t len = r % S + 1;
    A dot = 0;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) dot += load(p + j) * load(d + j);
    dot = block_reduce(dot, Sum{}, slots);
    for (int64_t j = threadIdx.x; j < S; j += blockDim.x) {
      store(d + j, j < len ? scale * load(p + j) * (load(d + j) - dot) : A(0));
    }
  }
}

// x, out: n elements; out may equal x (no __restrict__: each element is read, then written, by one thread).
template <class E>
__global__ void __launch_bounds__(kMaxThreads)
    dropout_apply_kernel(const E* x, E* out, int64_t n, uint64_t seed, double p, Acc<E> scale) {
  using A = Acc<E>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    store(out + i, kernels::dropout_keep(seed, static_cast<uint64_t>(i), p) ? load(x + i) * scale : A(0));
  }
}

// a, b: (T, C); out: (1, C). Block (kColTile, kRowGroups): thread (c, g) sums rows g, g + kRowGroups, ... of column
// blockIdx.x * kColTile + c in double; thread (c, 0) then adds the kRowGroups partials in order.
template <class E>
__global__ void __launch_bounds__(kColTile * kRowGroups)
    column_sum_of_product_kernel(const E* __restrict__ a, const E* __restrict__ b, E* __restrict__ out, int64_t T,
                                 int64_t C) {
  __shared__ double partial[kRowGroups][kColTile];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  double s = 0;
  if (j < C) {
    for (int64_t t = threadIdx.y; t < T; t += kRowGroups) {
      s += static_cast<double>(load(a + t * C + j)) * static_cast<double>(load(b + t * C + j));
    }
  }
  partial[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && j < C) {
    double total = 0;
    for (int g = 0; g < kRowGroups; ++g) total += partial[g][threadIdx.x];
    store(out + j, static_cast<Acc<E>>(total));  // double -> accumulation type -> E, as the CPU's S(double)
  }
}

// One partial sum per block of the first MSE kernel, read by the second (same stream, so ordered).
__device__ double g_mse_partials[kMseBlocks];

template <class E>
__global__ void __launch_bounds__(kMaxThreads)
    squared_error_partials_kernel(const E* __restrict__ h, const E* __restrict__ y, int64_t n) {
  __shared__ double slots[kMaxWarps];
  double s = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double d = static_cast<double>(load(h + i)) - static_cast<double>(load(y + i));
    s += d * d;
  }
  s = block_reduce(s, Sum{}, slots);
  if (threadIdx.x == 0) g_mse_partials[blockIdx.x] = s;
}

// One block: adds `partials` partial sums in a fixed order, writes the mean.
template <class E>
__global__ void __launch_bounds__(kMaxThreads) mean_of_partials_kernel(E* __restrict__ out, int partials, int64_t n) {
  __shared__ double slots[kMaxWarps];
  double s = 0;
  for (int k = threadIdx.x; k < partials; k += blockDim.x) s += g_mse_partials[k];
  s = block_reduce(s, Sum{}, slots);
  if (threadIdx.x == 0) store(out, static_cast<Acc<E>>(s / static_cast<double>(n)));
}

// ---- host side ----

void require_size(const char* fn, const char* name, int64_t v) {
  if (v < 1) throw std::invalid_argument(std::string(fn) + ": " + name + " must be >= 1, got " + std::to_string(v));
}

void require_pointer(const char* fn, const char* name, const void* p) {
  if (p == nullptr) throw std::invalid_argument(std::string(fn) + ": " + name + " is a null pointer");
}

template <class E>
struct Tag {
  using type = E;
};

// Calls f(Tag<E>{}) with E the element type of `dtype`; an unknown dtype throws before any CUDA call.
template <class F>
void dispatch(const char* fn, Dtype dtype, F&& f) {
  switch (dtype) {
    case Dtype::f32: f(Tag<float>{}); return;
    case Dtype::f64: f(Tag<double>{}); return;
    case Dtype::bf16: f(Tag<__nv_bfloat16>{}); return;
  }
  throw std::invalid_argument(std::string(fn) + ": unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

// Threads for a block that walks a row of `len` elements: whole warps, at most kMaxThreads (short rows leave
// fewer threads idle).
unsigned row_threads(int64_t len) {
  return static_cast<unsigned>(std::min<int64_t>(kMaxThreads, (len + 31) / 32 * 32));
}

unsigned row_blocks(int64_t rows) { return static_cast<unsigned>(std::min(rows, kMaxRowBlocks)); }

}  // namespace

void rms_normalize_forward(Dtype dtype, const void* x, void* out, int64_t T, int64_t D, double eps, void* stream) {
  constexpr const char* fn = "rms_normalize_forward";
  require_size(fn, "T", T);
  require_size(fn, "D", D);
  require_pointer(fn, "x", x);
  require_pointer(fn, "out", out);
  dispatch(fn, dtype, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const auto st = static_cast<cudaStream_t>(stream);
    TALKLAB_LAUNCH(row_blocks(T), row_threads(D), 0, st, rms_normalize_forward_kernel<E>)(
        static_cast<const E*>(x), static_cast<E*>(out), T, D, static_cast<Acc<E>>(eps));
    detail::check_launch("rms_normalize_forward_kernel");
  });
}

void rms_normalize_backward(Dtype dtype, const void* x, const void* grad_y, void* dx, int64_t T, int64_t D,
                            double eps, void* stream) {
  constexpr const char* fn = "rms_normalize_backward";
  require_size(fn, "T", T);
  require_size(fn, "D", D);
  require_pointer(fn, "x", x);
  require_pointer(fn, "grad_y", grad_y);
  require_pointer(fn, "dx", dx);
  dispatch(fn, dtype, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const auto st = static_cast<cudaStream_t>(stream);
    TALKLAB_LAUNCH(row_blocks(T), row_threads(D), 0, st, rms_normalize_backward_kernel<E>)(
        static_cast<const E*>(x), static_cast<const E*>(grad_y), static_cast<E*>(dx), T, D, static_cast<Acc<E>>(eps));
    detail::check_launch("rms_normalize_backward_kernel");
  });
}

void causal_softmax_forward(Dtype dtype, void* scores, int64_t G, int64_t S, double scale, void* stream) {
  constexpr const char* fn = "causal_softmax_forward";
  require_size(fn, "G", G);
  require_size(fn, "S", S);
  require_pointer(fn, "scores", scores);
  dispatch(fn, dtype, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const auto st = static_cast<cudaStream_t>(stream);
    const int64_t rows = G * S;
    TALKLAB_LAUNCH(row_blocks(rows), row_threads(S), 0, st, causal_softmax_forward_kernel<E>)(
        static_cast<E*>(scores), rows, S, static_cast<Acc<E>>(scale));
    detail::check_launch("causal_softmax_forward_kernel");
  });
}

void causal_softmax_backward(Dtype dtype, const void* prob, void* dprob, int64_t G, int64_t S, double scale,
                             void* stream) {
  constexpr const char* fn = "causal_softmax_backward";
  require_size(fn, "G", G);
  require_size(fn, "S", S);
  require_pointer(fn, "prob", prob);
  require_pointer(fn, "dprob", dprob);
  dispatch(fn, dtype, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const auto st = static_cast<cudaStream_t>(stream);
    const int64_t rows = G * S;
    TALKLAB_LAUNCH(row_blocks(rows), row_threads(S), 0, st, causal_softmax_backward_kernel<E>)(
        static_cast<const E*>(prob), static_cast<E*>(dprob), rows, S, static_cast<Acc<E>>(scale));
    detail::check_launch("causal_softmax_backward_kernel");
  });
}

void dropout_apply(Dtype dtype, const void* x, void* out, int64_t n, uint64_t seed, double p, void* stream) {
  constexpr const char* fn = "dropout_apply";
  require_size(fn, "n", n);
  require_pointer(fn, "x", x);
  require_pointer(fn, "out", out);
  if (!(p >= 0.0 && p < 1.0)) throw std::invalid_argument(std::string(fn) + ": p must be in [0, 1), got " + std::to_string(p));
  const double scale = 1.0 / (1.0 - p);  // in double, then cast to the accumulation type: the CPU's A(1.0 / (1.0 - p))
  dispatch(fn, dtype, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const auto st = static_cast<cudaStream_t>(stream);
    const auto blocks = static_cast<unsigned>(std::min<int64_t>((n + kMaxThreads - 1) / kMaxThreads, kMaxElementwiseBlocks));
    TALKLAB_LAUNCH(blocks, kMaxThreads, 0, st, dropout_apply_kernel<E>)(
        static_cast<const E*>(x), static_cast<E*>(out), n, seed, p, static_cast<Acc<E>>(scale));
    detail::check_launch("dropout_apply_kernel");
  });
}

void column_sum_of_product(Dtype dtype, const void* a, const void* b, void* out, int64_t T, int64_t C, void* stream) {
  constexpr const char* fn = "column_sum_of_product";
  require_size(fn, "T", T);
  require_size(fn, "C", C);
  require_pointer(fn, "a", a);
  require_pointer(fn, "b", b);
  require_pointer(fn, "out", out);
  dispatch(fn, dtype, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const auto st = static_cast<cudaStream_t>(stream);
    const auto blocks = static_cast<unsigned>((C + kColTile - 1) / kColTile);
    TALKLAB_LAUNCH(blocks, dim3(kColTile, kRowGroups), 0, st, column_sum_of_product_kernel<E>)(
        static_cast<const E*>(a), static_cast<const E*>(b), static_cast<E*>(out), T, C);
    detail::check_launch("column_sum_of_product_kernel");
  });
}

void mean_squared_error(Dtype dtype, const void* h, const void* y, void* out, int64_t n, void* stream) {
  constexpr const char* fn = "mean_squared_error";
  require_size(fn, "n", n);
  require_pointer(fn, "h", h);
  require_pointer(fn, "y", y);
  require_pointer(fn, "out", out);
  dispatch(fn, dtype, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const auto s = static_cast<cudaStream_t>(stream);
    // The grid depends only on n: the same n always sums in the same order.
    const auto blocks = static_cast<int>(std::min<int64_t>((n + kMaxThreads - 1) / kMaxThreads, kMseBlocks));
    TALKLAB_LAUNCH(blocks, kMaxThreads, 0, s, squared_error_partials_kernel<E>)(static_cast<const E*>(h),
                                                                                 static_cast<const E*>(y), n);
    detail::check_launch("squared_error_partials_kernel");
    TALKLAB_LAUNCH(1, kMaxThreads, 0, s, mean_of_partials_kernel<E>)(static_cast<E*>(out), blocks, n);
    detail::check_launch("mean_of_partials_kernel");
  });
}

}  // namespace talklab::cuda::step_ops
