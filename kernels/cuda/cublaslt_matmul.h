// cuBLASLt matrix product for the roofline's compute ceilings (and the matmul experiment's library baseline).
// Compute-bound at large M, N, K: 2*M*N*K FLOPs over (M*K + K*N) * in_bytes + M*N * out_bytes bytes.
// Measured by: bench --filter roofline --device cuda
//
// D(M,N) = A(M,K) x B(K,N), fp32 accumulation, alpha = 1, beta = 0. Memory layout (all "K-major" inputs,
// the layout fp8 requires on Hopper and torch._scaled_mm uses):
//   A: row-major (M,K), element (i,k) at A[i*K + k]
//   B: column-major (K,N), element (k,j) at B[j*K + k]   (i.e. B^T stored row-major)
//   D: row-major (M,N), element (i,j) at D[i*N + j]
// Element types: inputs fp32 (fp32, tf32), bf16, fp16, fp8 e4m3; output fp32 for fp32/tf32, fp16 for fp16,
// bf16 for bf16 and fp8. tf32 = fp32 data multiplied on the tensor cores with 10-bit mantissas.
// fp8 uses tensorwise scales (device floats, 1.0): D = a_scale * b_scale * (A x B).
// No CUDA types here; the stream is a void* holding a cudaStream_t.
#pragma once

#include <cstdint>
#include <memory>

namespace talklab::cuda {

enum class LtDtype { fp32, tf32, bf16, fp16, fp8_e4m3 };

const char* lt_dtype_name(LtDtype dtype);  // "fp32", "tf32", "bf16", "fp16", "fp8_e4m3"

// Largest max_rel_error_sampled() a correct product may show (see its definition below); the reasoning for
// each value is beside it in cublaslt_matmul.cu.
double lt_error_tolerance(LtDtype dtype);

class LtMatmul {
 public:
  // Allocates A, B, D (and for fp8 the two scales), a 32 MiB workspace, and picks the heuristic's best
  // algorithm on the current device. Throws std::invalid_argument for bad sizes and std::runtime_error naming
  // the call and status when the device or cuBLASLt cannot do it (fp8 needs compute capability >= 8.9 and
  // M, N, K multiples of 16; bf16 and tf32 need >= 8.0).
  LtMatmul(LtDtype dtype, int64_t M, int64_t N, int64_t K, void* stream);
  ~LtMatmul();
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;

  // A and B get hash-based random values, never zero, magnitudes in [1/16, 1] with random sign, rounded to
  // the dtype (fp8 values are exact e4m3 numbers). Deterministic in seed; enqueued on the stream.
  void fill_random(uint64_t seed);
  // D = all bits set: NaN in fp32, fp16 and bf16, so an element the product did not write fails the check.
  void poison_output();
  // Enqueues one product on the stream; no synchronization.
  void run();

  // Synchronizes the stream, then compares `samples` elements of D (the two corners first, the rest at
  // hash-chosen (i,j)) with a float64 dot product of the stored A row and B column. Per element:
  //   |D - ref| / max(|ref|, sqrt(sum_k (A_ik B_kj)^2))
  // the second term is the size of a sum of K random-signed terms, so an element that happens to cancel to
  // near zero is not judged relative to its own tiny value. Returns the largest; +inf if any D is not finite.
  double max_rel_error_sampled(int samples);

  double flops() const { return 2.0 * static_cast<double>(M_) * static_cast<double>(N_) * static_cast<double>(K_); }
  double bytes() const;  // fewest bytes moved: A and B read once, D written once
  LtDtype dtype() const { return dtype_; }
  int64_t M() const { return M_; }
  int64_t N() const { return N_; }
  int64_t K() const { return K_; }
  void* a() const;  // device pointers, layouts as above
  void* b() const;
  void* d() const;

 private:
  struct Impl;  // CUDA and cuBLASLt handles, kept out of this header
  LtDtype dtype_;
  int64_t M_, N_, K_;
  std::unique_ptr<Impl> impl_;
  uint64_t seed_ = 0;  // of the last fill_random, so the sampled (i,j) change with the data
};

}  // namespace talklab::cuda
