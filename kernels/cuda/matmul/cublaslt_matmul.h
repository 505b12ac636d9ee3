// cuBLASLt matrix product: the roofline's compute ceilings and the matmul experiment's cublaslt_* recipes.
// Compute-bound at large M, N, K: 2*M*N*K FLOPs over (M*K + K*N) * in_bytes + M*N * out_bytes bytes.
// Measured by: bench --filter roofline --device cuda;  bench --filter 'matmul/cublaslt' --device cuda
//
// D(M,N) = A(M,K) x B(K,N), fp32 accumulation, alpha = 1, beta = 0. Memory layout (all "K-major" inputs,
// the layout fp8 requires on Hopper and torch._scaled_mm uses):
//   A: row-major (M,K), element (i,k) at A[i*K + k]
//   B: column-major (K,N), element (k,j) at B[j*K + k]   (i.e. B^T stored row-major)
//   D: row-major (M,N), element (i,j) at D[i*N + j]
// Element types: inputs fp32 (fp32, tf32), bf16, fp16, fp8 e4m3; output fp32 for fp32/tf32, fp16 for fp16,
// bf16 for bf16 and fp8. tf32 = fp32 data multiplied on the tensor cores with 10-bit mantissas.
//
// fp8 scaling (LtScaling), D(i,j) = sum over K blocks b of a_scale(i,b) * b_scale(b,j) * sum_{k in b} A(i,k) B(k,j):
//   tensorwise  one float per operand (any fp8 device)
//   rowwise     a_scale: M floats (one per row of A), b_scale: N floats (one per column of B)
//   blockwise   a_scale: 1 x 128 blocks along K, row-major (M, K/128), scale of (i,k) at [i*(K/128) + k/128];
//               b_scale: 128 x 128 blocks, row-major (K/128, ceil(N/128)), scale of (k,j) at [(k/128)*nb + j/128]
// These are the scale grids of kernels/cpu/quant/scaling.h (ScaleGrid, Operand::A / Operand::B), so codes and
// scales the CPU codecs made upload unchanged (B's codes transposed to column-major). cuBLASLt wants other
// layouts for blockwise scales; lt_device_scales() converts on the host (see cublaslt_matmul.cu).
// Rowwise and blockwise are cuBLASLt's OUTER_VEC_32F, VEC128_32F (A) and BLK128x128_32F (B) scale modes: CUDA
// 12.9+ and compute capability 9.0 only (cuBLAS docs, "Scaling Mode Support Overview"); elsewhere
// lt_unsupported_reason() says why, from the device and from the status cuBLASLt's heuristic returns.
// Blockwise needs K % 128 == 0 (as the CPU codec). Every fp8 mode needs M, N, K multiples of 16.
// No CUDA types here; the stream is a void* holding a cudaStream_t.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace talklab::cuda {

enum class LtDtype { fp32, tf32, bf16, fp16, fp8_e4m3 };
enum class LtScaling { tensorwise, rowwise, blockwise };  // fp8 only; other dtypes take tensorwise (no scales)

inline const char* lt_dtype_name(LtDtype dtype) {
  switch (dtype) {
    case LtDtype::fp32: return "fp32";
    case LtDtype::tf32: return "tf32";
    case LtDtype::bf16: return "bf16";
    case LtDtype::fp16: return "fp16";
    case LtDtype::fp8_e4m3: return "fp8_e4m3";
  }
  return "unknown";
}

inline const char* lt_scaling_name(LtScaling scaling) {
  switch (scaling) {
    case LtScaling::tensorwise: return "tensorwise";
    case LtScaling::rowwise: return "rowwise";
    case LtScaling::blockwise: return "blockwise";
  }
  return "unknown";
}

inline constexpr int64_t kLtBlock = 128;  // blockwise: 1 x 128 (A) and 128 x 128 (B)

// Largest max_rel_error_sampled() a correct product may show (see its definition below); the reasoning for
// each value is beside it in cublaslt_matmul.cu.
double lt_error_tolerance(LtDtype dtype);

// Number of scale floats of each operand in the layout above: tensorwise 1 / 1, rowwise M / N, blockwise
// M * (K/128) / (K/128) * ceil(N/128). Throws std::invalid_argument for non-positive sizes or, blockwise,
// K % 128 != 0.
size_t lt_a_scale_count(LtScaling scaling, int64_t M, int64_t K);
size_t lt_b_scale_count(LtScaling scaling, int64_t N, int64_t K);

// The scales in the layout cuBLASLt reads, from the layout above (host only; the tests check it on the CPU):
//   rowwise and tensorwise: unchanged.
//   blockwise A (VEC128_32F on cuBLASLt's B' = our A): M-major (M, K/128): scale of (i, b) at [b*M + i].
//   blockwise B (BLK128x128_32F on cuBLASLt's A' = our B): K-major, ceil(N/128) columns of L4 = round_up(K/128,
//     4) floats: scale of (b, jb) at [jb*L4 + b], the padding zero.
std::vector<float> lt_device_a_scales(LtScaling scaling, const float* a_scale, int64_t M, int64_t K);
std::vector<float> lt_device_b_scales(LtScaling scaling, const float* b_scale, int64_t N, int64_t K);

// Empty when this device and cuBLASLt can run the product; else why not: no usable device, compute capability,
// shape constraints, or the status of cuBLASLt's heuristic for exactly this description. Never throws.
std::string lt_unsupported_reason(LtDtype dtype, LtScaling scaling, int64_t M, int64_t N, int64_t K);

class LtMatmul {
 public:
  // Allocates A, B, D (and for fp8 the two scales), a 32 MiB workspace, and picks the heuristic's best
  // algorithm on the current device. Throws std::invalid_argument for bad sizes (or a scaling other than
  // tensorwise for a non-fp8 dtype) and std::runtime_error naming the call and status when the device or
  // cuBLASLt cannot do it (fp8 needs compute capability >= 8.9 and M, N, K multiples of 16, rowwise and
  // blockwise need 9.0; bf16 and tf32 need >= 8.0).
  LtMatmul(LtDtype dtype, int64_t M, int64_t N, int64_t K, void* stream,
           LtScaling scaling = LtScaling::tensorwise);
  ~LtMatmul();
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;

  // A and B get hash-based random values, never zero, magnitudes in [1/16, 1] with random sign, rounded to
  // the dtype (fp8 values are exact e4m3 numbers). fp8 scales: tensorwise 1.0; rowwise and blockwise random
  // in [1/4, 4) (so a scale applied to the wrong row, column or block shows in the check). Deterministic in
  // seed; enqueued on the stream (the scales are copied synchronously).
  void fill_random(uint64_t seed);
  // Caller-provided operands, copied synchronously (ordered after earlier work on every stream):
  //   a: M*K elements, b: K*N elements column-major, in the input type's bytes (fp32: float; bf16/fp16: raw
  //   16-bit patterns; fp8: e4m3 bytes); a_scale / b_scale: fp8 only (nullptr otherwise; std::invalid_argument
  //   if that does not hold), lt_a_scale_count / lt_b_scale_count floats in the layout above.
  void upload(const void* a, const void* b, const float* a_scale = nullptr, const float* b_scale = nullptr);
  // D = all bits set: NaN in fp32, fp16 and bf16, so an element the product did not write fails the check.
  void poison_output();
  // Enqueues one product on the stream; no synchronization.
  void run();
  // Synchronizes the stream, then copies D to the host decoded exactly to float (M*N, row-major).
  void download_output(float* d);

  // Synchronizes the stream, then compares `samples` elements of D (the two corners first, the rest at
  // hash-chosen (i,j)) with a float64 dot product of the stored A row and B column, times the scales. Per element:
  //   |D - ref| / max(|ref|, sqrt(sum_k (s_a A_ik s_b B_kj)^2))
  // the second term is the size of a sum of K random-signed terms, so an element that happens to cancel to
  // near zero is not judged relative to its own tiny value. Returns the largest; +inf if any D is not finite.
  double max_rel_error_sampled(int samples);

  double flops() const { return 2.0 * static_cast<double>(M_) * static_cast<double>(N_) * static_cast<double>(K_); }
  double bytes() const;  // fewest bytes moved: A and B read once, D written once (scales not counted)
  LtDtype dtype() const { return dtype_; }
  LtScaling scaling() const { return scaling_; }
  int64_t M() const { return M_; }
  int64_t N() const { return N_; }
  int64_t K() const { return K_; }
  int algorithm_id() const;       // CUBLASLT_ALGO_CONFIG_ID of the heuristic's choice
  size_t workspace_bytes() const;  // what that algorithm asked for (at most the 32 MiB allocated)
  void* a() const;  // device pointers, layouts as above
  void* b() const;
  void* d() const;

 private:
  struct Impl;  // CUDA and cuBLASLt handles, kept out of this header
  friend std::string lt_unsupported_reason(LtDtype, LtScaling, int64_t, int64_t, int64_t);  // describes an Impl
  LtDtype dtype_;
  LtScaling scaling_;
  int64_t M_, N_, K_;
  std::unique_ptr<Impl> impl_;
  uint64_t seed_ = 0;  // of the last fill_random, so the sampled (i,j) change with the data
};

}  // namespace talklab::cuda
