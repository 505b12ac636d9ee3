// cuBLASLt matrix product (see cublaslt_matmul.h for the layout and dtypes) plus the fill kernel that gives
// it random operands. Compute-bound at large sizes; the library does the work, we only describe it.
//
// Layout, the one subtle part. cuBLASLt is column-major and computes D' = op(A') x op(B') with D' (m x n).
// Our D is row-major (M,N), which in column-major is D^T (N x M). So we ask cuBLASLt for
//   D^T (N x M) = B^T (N x K) x A^T (K x M):
//   A' = our B buffer, stored column-major K x N (ld = K), op(A') = T -> N x K
//   B' = our A buffer (row-major M x K), read column-major it is A^T, K x M (ld = K), op(B') = N
//   m = N, n = M, k = K, D' ld = N.
// That is the "TN" form (A' transposed, B' not), the only fp8 layout Hopper's cuBLASLt supports; we use it
// for every dtype so that all of them run on the same data layout.
#include "kernels/cuda/cublaslt_matmul.h"

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace talklab::cuda {

namespace {

using detail::check_cublas;
using detail::check_cuda;

constexpr size_t kWorkspaceBytes = 32ull << 20;  // what cuBLAS recommends for Hopper
constexpr float kFp8Scale = 1.0f;                // values are already in [-1, 1], well inside e4m3's range
constexpr float kMinMagnitude = 1.0f / 16.0f;    // keeps every value non-zero and a normal e4m3 number
constexpr int kFillThreads = 256;
constexpr int kFillMaxBlocks = 4096;
constexpr uint64_t kTensorA = 1, kTensorB = 2, kSamples = 3;  // independent hash streams per use

struct DtypeSpec {
  cudaDataType_t in_type;
  cudaDataType_t out_type;
  cublasComputeType_t compute;
  size_t in_bytes;
  size_t out_bytes;
  int min_cc;  // major*10 + minor
};

DtypeSpec spec_of(LtDtype dtype) {
  switch (dtype) {
    case LtDtype::fp32: return {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 4, 4, 0};
    case LtDtype::tf32: return {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, 4, 4, 80};
    case LtDtype::bf16: return {CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, 2, 2, 80};
    case LtDtype::fp16: return {CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, 2, 2, 0};
    case LtDtype::fp8_e4m3: return {CUDA_R_8F_E4M3, CUDA_R_16BF, CUBLAS_COMPUTE_32F, 1, 2, 89};
  }
  throw std::invalid_argument("LtMatmul: unknown LtDtype");
}

// splitmix64's output function: a cheap, well-mixed hash of a 64-bit counter, same on host and device.
__host__ __device__ inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

template <typename T>
__device__ T from_float(float x);
template <>
__device__ float from_float<float>(float x) { return x; }
template <>
__device__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <>
__device__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __nv_fp8_e4m3 from_float<__nv_fp8_e4m3>(float x) { return __nv_fp8_e4m3(x); }  // RNE, saturating

// p[0, n): sign * (kMinMagnitude + (1 - kMinMagnitude) * u), u uniform in [0, 1) from hash(key, index).
template <typename T>
__global__ void fill_random_kernel(T* __restrict__ p, size_t n, uint64_t key) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const uint64_t h = mix64(key ^ mix64(i));
    const float u = static_cast<float>(h >> 40) * 0x1.0p-24f;  // 24 random bits: exact in float
    const float magnitude = kMinMagnitude + (1.0f - kMinMagnitude) * u;
    p[i] = from_float<T>((h & 1) ? -magnitude : magnitude);
  }
}

template <typename T>
void launch_fill(void* p, size_t n, uint64_t key, cudaStream_t stream) {
  size_t blocks = (n + kFillThreads - 1) / kFillThreads;
  if (blocks > kFillMaxBlocks) blocks = kFillMaxBlocks;
  if (blocks == 0) return;
  fill_random_kernel<T><<<static_cast<unsigned>(blocks), kFillThreads, 0, stream>>>(static_cast<T*>(p), n, key);
  detail::check_launch("fill_random_kernel");
}

// One stored element, decoded exactly to double on the host.
double decode(const unsigned char* bytes, cudaDataType_t type) {
  switch (type) {
    case CUDA_R_32F: {
      float f;
      std::memcpy(&f, bytes, sizeof f);
      return f;
    }
    case CUDA_R_16BF: {
      uint16_t hi;
      std::memcpy(&hi, bytes, sizeof hi);
      const uint32_t bits = static_cast<uint32_t>(hi) << 16;  // bf16 is the top half of a float
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
    case CUDA_R_16F: {
      __half_raw raw;
      std::memcpy(&raw.x, bytes, sizeof raw.x);
      return __half2float(__half(raw));
    }
    case CUDA_R_8F_E4M3: {
      __nv_fp8_e4m3 v;
      v.__x = bytes[0];
      return static_cast<float>(v);
    }
    default: throw std::logic_error("LtMatmul: decode of an unexpected cudaDataType_t");
  }
}

}  // namespace

const char* lt_dtype_name(LtDtype dtype) {
  switch (dtype) {
    case LtDtype::fp32: return "fp32";
    case LtDtype::tf32: return "tf32";
    case LtDtype::bf16: return "bf16";
    case LtDtype::fp16: return "fp16";
    case LtDtype::fp8_e4m3: return "fp8_e4m3";
  }
  return "unknown";
}

// Tolerances for max_rel_error_sampled(), whose denominator is max(|ref|, sqrt(sum_k (a b)^2)), i.e. at least
// the typical size of the dot product. Inputs are compared as stored, so input rounding to the dtype does not
// count; what remains is the arithmetic and the output's rounding.
double lt_error_tolerance(LtDtype dtype) {
  switch (dtype) {
    // fp32 accumulation of K terms: random-walk error about sqrt(K) * 2^-24 (~5e-6 at K = 8192). 1e-4 leaves
    // room for K up to ~10^5 and still fails a product that silently ran in tf32 (~1e-3).
    case LtDtype::fp32: return 1e-4;
    // The tensor cores read each fp32 operand with a 10-bit mantissa (relative error up to 2^-10 when
    // truncated): the dot product's error is about 1e-3 of its typical size; 1e-2 is ~10 standard deviations.
    case LtDtype::tf32: return 1e-2;
    // bf16 x bf16 products are exact in fp32 and accumulate in fp32; the output's rounding to bf16 costs at most
    // half an ulp, 2^-8 = 3.9e-3 relative. 1e-2 is 2.5x that.
    case LtDtype::bf16: return 1e-2;
    // As bf16, with fp16's 10-bit mantissa: output rounding at most 2^-11 = 4.9e-4. 2e-3 is 4x that.
    case LtDtype::fp16: return 2e-3;
    // e4m3 products are exact; Hopper accumulates fp8 MMAs in a format narrower than fp32 between cuBLAS's
    // promotions to fp32 (fast accumulation stays off), and the bf16 output adds up to 3.9e-3. 2e-2 covers both.
    case LtDtype::fp8_e4m3: return 2e-2;
  }
  return 0.0;
}

struct LtMatmul::Impl {
  DtypeSpec spec{};
  cudaStream_t stream = nullptr;
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t layout_a = nullptr;  // cuBLASLt's A' = our B
  cublasLtMatrixLayout_t layout_b = nullptr;  // cuBLASLt's B' = our A
  cublasLtMatrixLayout_t layout_d = nullptr;  // C and D
  cublasLtMatmulPreference_t preference = nullptr;
  cublasLtMatmulHeuristicResult_t heuristic{};
  void* a = nullptr;
  void* b = nullptr;
  void* d = nullptr;
  float* a_scale = nullptr;
  float* b_scale = nullptr;
  void* workspace = nullptr;

  // Runs also when the constructor threw half-way: every member starts null, each is released if set.
  ~Impl() {
    if (preference) cublasLtMatmulPreferenceDestroy(preference);
    if (layout_d) cublasLtMatrixLayoutDestroy(layout_d);
    if (layout_b) cublasLtMatrixLayoutDestroy(layout_b);
    if (layout_a) cublasLtMatrixLayoutDestroy(layout_a);
    if (op) cublasLtMatmulDescDestroy(op);
    if (handle) cublasLtDestroy(handle);
    for (void* p : {a, b, d, static_cast<void*>(a_scale), static_cast<void*>(b_scale), workspace}) {
      if (p) cudaFree(p);
    }
  }
};

LtMatmul::LtMatmul(LtDtype dtype, int64_t M, int64_t N, int64_t K, void* stream)
    : dtype_(dtype), M_(M), N_(N), K_(K), impl_(std::make_unique<Impl>()) {
  const std::string where = std::string("LtMatmul(") + lt_dtype_name(dtype) + ", M=" + std::to_string(M) +
                            ", N=" + std::to_string(N) + ", K=" + std::to_string(K) + "): ";
  auto call = [&](const char* name) { return where + name; };
  if (M <= 0 || N <= 0 || K <= 0) throw std::invalid_argument(where + "M, N and K must be positive");

  Impl& s = *impl_;
  s.spec = spec_of(dtype);
  s.stream = static_cast<cudaStream_t>(stream);

  int device = 0, major = 0, minor = 0;
  check_cuda(cudaGetDevice(&device), call("cudaGetDevice").c_str());
  check_cuda(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
             call("cudaDeviceGetAttribute(cudaDevAttrComputeCapabilityMajor)").c_str());
  check_cuda(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device),
             call("cudaDeviceGetAttribute(cudaDevAttrComputeCapabilityMinor)").c_str());
  if (major * 10 + minor < s.spec.min_cc) {
    throw std::runtime_error(where + "needs compute capability >= " + std::to_string(s.spec.min_cc / 10) + "." +
                             std::to_string(s.spec.min_cc % 10) + ", device " + std::to_string(device) + " is " +
                             std::to_string(major) + "." + std::to_string(minor));
  }
  if (dtype == LtDtype::fp8_e4m3 && (M % 16 != 0 || N % 16 != 0 || K % 16 != 0)) {
    // cuBLASLt's fp8 kernels need 16-byte aligned rows (K bytes per row of A and B) and tensor-core tiles.
    throw std::invalid_argument(where + "fp8 needs M, N and K to be multiples of 16");
  }

  const auto m = static_cast<size_t>(M), n = static_cast<size_t>(N), k = static_cast<size_t>(K);
  check_cuda(cudaMalloc(&s.a, m * k * s.spec.in_bytes), call("cudaMalloc(A)").c_str());
  check_cuda(cudaMalloc(&s.b, k * n * s.spec.in_bytes), call("cudaMalloc(B)").c_str());
  check_cuda(cudaMalloc(&s.d, m * n * s.spec.out_bytes), call("cudaMalloc(D)").c_str());
  check_cuda(cudaMalloc(&s.workspace, kWorkspaceBytes), call("cudaMalloc(workspace)").c_str());

  check_cublas(cublasLtCreate(&s.handle), call("cublasLtCreate").c_str());
  check_cublas(cublasLtMatmulDescCreate(&s.op, s.spec.compute, CUDA_R_32F), call("cublasLtMatmulDescCreate").c_str());
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  check_cublas(cublasLtMatmulDescSetAttribute(s.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a),
               call("cublasLtMatmulDescSetAttribute(TRANSA)").c_str());
  check_cublas(cublasLtMatmulDescSetAttribute(s.op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b),
               call("cublasLtMatmulDescSetAttribute(TRANSB)").c_str());
  if (dtype == LtDtype::fp8_e4m3) {
    // Tensorwise scales (the default scale mode): one device float per operand. cuBLASLt's A' is our B.
    check_cuda(cudaMalloc(reinterpret_cast<void**>(&s.a_scale), sizeof(float)), call("cudaMalloc(a_scale)").c_str());
    check_cuda(cudaMalloc(reinterpret_cast<void**>(&s.b_scale), sizeof(float)), call("cudaMalloc(b_scale)").c_str());
    check_cuda(cudaMemcpy(s.a_scale, &kFp8Scale, sizeof(float), cudaMemcpyHostToDevice),
               call("cudaMemcpy(a_scale)").c_str());
    check_cuda(cudaMemcpy(s.b_scale, &kFp8Scale, sizeof(float), cudaMemcpyHostToDevice),
               call("cudaMemcpy(b_scale)").c_str());
    const void* lt_a_scale = s.b_scale;
    const void* lt_b_scale = s.a_scale;
    check_cublas(cublasLtMatmulDescSetAttribute(s.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &lt_a_scale,
                                                sizeof lt_a_scale),
                 call("cublasLtMatmulDescSetAttribute(A_SCALE_POINTER)").c_str());
    check_cublas(cublasLtMatmulDescSetAttribute(s.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &lt_b_scale,
                                                sizeof lt_b_scale),
                 call("cublasLtMatmulDescSetAttribute(B_SCALE_POINTER)").c_str());
  }

  check_cublas(cublasLtMatrixLayoutCreate(&s.layout_a, s.spec.in_type, k, n, K),
               call("cublasLtMatrixLayoutCreate(A' = B, K x N)").c_str());
  check_cublas(cublasLtMatrixLayoutCreate(&s.layout_b, s.spec.in_type, k, m, K),
               call("cublasLtMatrixLayoutCreate(B' = A, K x M)").c_str());
  check_cublas(cublasLtMatrixLayoutCreate(&s.layout_d, s.spec.out_type, n, m, N),
               call("cublasLtMatrixLayoutCreate(D^T, N x M)").c_str());

  check_cublas(cublasLtMatmulPreferenceCreate(&s.preference), call("cublasLtMatmulPreferenceCreate").c_str());
  const uint64_t workspace_bytes = kWorkspaceBytes;
  check_cublas(cublasLtMatmulPreferenceSetAttribute(s.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &workspace_bytes, sizeof workspace_bytes),
               call("cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)").c_str());
  // A split-K reduction in the output type would round partial sums to bf16/fp16: not the fp32 accumulation
  // this product promises (and its accuracy check assumes).
  const uint32_t reduction_mask = CUBLASLT_REDUCTION_SCHEME_INPLACE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  check_cublas(cublasLtMatmulPreferenceSetAttribute(s.preference, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                    &reduction_mask, sizeof reduction_mask),
               call("cublasLtMatmulPreferenceSetAttribute(REDUCTION_SCHEME_MASK)").c_str());

  int returned = 0;
  check_cublas(cublasLtMatmulAlgoGetHeuristic(s.handle, s.op, s.layout_a, s.layout_b, s.layout_d, s.layout_d,
                                              s.preference, 1, &s.heuristic, &returned),
               call("cublasLtMatmulAlgoGetHeuristic").c_str());
  if (returned == 0 || s.heuristic.state != CUBLAS_STATUS_SUCCESS) {
    const cublasStatus_t status = returned == 0 ? CUBLAS_STATUS_NOT_SUPPORTED : s.heuristic.state;
    check_cublas(status, call("cublasLtMatmulAlgoGetHeuristic returned no usable algorithm").c_str());
  }
}

LtMatmul::~LtMatmul() = default;

void LtMatmul::fill_random(uint64_t seed) {
  seed_ = seed;
  const Impl& s = *impl_;
  const auto m = static_cast<size_t>(M_), n = static_cast<size_t>(N_), k = static_cast<size_t>(K_);
  const uint64_t key_a = mix64(seed ^ mix64(kTensorA)), key_b = mix64(seed ^ mix64(kTensorB));
  switch (dtype_) {
    case LtDtype::fp32:
    case LtDtype::tf32:
      launch_fill<float>(s.a, m * k, key_a, s.stream);
      launch_fill<float>(s.b, k * n, key_b, s.stream);
      break;
    case LtDtype::bf16:
      launch_fill<__nv_bfloat16>(s.a, m * k, key_a, s.stream);
      launch_fill<__nv_bfloat16>(s.b, k * n, key_b, s.stream);
      break;
    case LtDtype::fp16:
      launch_fill<__half>(s.a, m * k, key_a, s.stream);
      launch_fill<__half>(s.b, k * n, key_b, s.stream);
      break;
    case LtDtype::fp8_e4m3:
      launch_fill<__nv_fp8_e4m3>(s.a, m * k, key_a, s.stream);
      launch_fill<__nv_fp8_e4m3>(s.b, k * n, key_b, s.stream);
      break;
  }
}

void LtMatmul::poison_output() {
  const Impl& s = *impl_;
  check_cuda(cudaMemsetAsync(s.d, 0xff, static_cast<size_t>(M_) * static_cast<size_t>(N_) * s.spec.out_bytes,
                             s.stream),
             "LtMatmul::poison_output: cudaMemsetAsync(D)");
}

void LtMatmul::run() {
  const Impl& s = *impl_;
  // alpha, beta on the host (the default pointer mode), in the scale type (fp32). beta = 0: C is never read,
  // so C may alias D.
  // The message is built only on failure: run() sits between the timer's events.
  const float alpha = 1.0f, beta = 0.0f;
  const cublasStatus_t status = cublasLtMatmul(s.handle, s.op, &alpha, s.b, s.layout_a, s.a, s.layout_b, &beta, s.d,
                                               s.layout_d, s.d, s.layout_d, &s.heuristic.algo, s.workspace,
                                               kWorkspaceBytes, s.stream);
  if (status != CUBLAS_STATUS_SUCCESS) {
    check_cublas(status, (std::string("cublasLtMatmul(") + lt_dtype_name(dtype_) + ")").c_str());
  }
}

double LtMatmul::bytes() const {
  const double in = static_cast<double>(impl_->spec.in_bytes), out = static_cast<double>(impl_->spec.out_bytes);
  const double m = static_cast<double>(M_), n = static_cast<double>(N_), k = static_cast<double>(K_);
  return (m * k + k * n) * in + m * n * out;
}

double LtMatmul::max_rel_error_sampled(int samples) {
  if (samples <= 0) throw std::invalid_argument("LtMatmul::max_rel_error_sampled: samples must be positive");
  const Impl& s = *impl_;
  check_cuda(cudaStreamSynchronize(s.stream), "LtMatmul::max_rel_error_sampled: cudaStreamSynchronize");

  const size_t k = static_cast<size_t>(K_), in = s.spec.in_bytes, out = s.spec.out_bytes;
  const double scale = dtype_ == LtDtype::fp8_e4m3 ? static_cast<double>(kFp8Scale) * kFp8Scale : 1.0;
  std::vector<unsigned char> row(k * in), col(k * in), elem(out);
  const uint64_t key = mix64(seed_ ^ mix64(kSamples));
  double worst = 0.0;
  for (int t = 0; t < samples; ++t) {
    // The corners first: an indexing mistake at an edge of the matrix shows there.
    size_t i = 0, j = 0;
    if (t == 1) {
      i = static_cast<size_t>(M_ - 1);
      j = static_cast<size_t>(N_ - 1);
    } else if (t > 1) {
      const uint64_t h = mix64(key ^ mix64(static_cast<uint64_t>(t)));
      i = static_cast<size_t>((h & 0xffffffffu) % static_cast<uint64_t>(M_));
      j = static_cast<size_t>((h >> 32) % static_cast<uint64_t>(N_));
    }
    const auto* a = static_cast<const unsigned char*>(s.a) + i * k * in;  // row i of A, K contiguous
    const auto* b = static_cast<const unsigned char*>(s.b) + j * k * in;  // column j of B, K contiguous
    const auto* d = static_cast<const unsigned char*>(s.d) + (i * static_cast<size_t>(N_) + j) * out;
    check_cuda(cudaMemcpy(row.data(), a, row.size(), cudaMemcpyDeviceToHost), "max_rel_error_sampled: cudaMemcpy(A row)");
    check_cuda(cudaMemcpy(col.data(), b, col.size(), cudaMemcpyDeviceToHost), "max_rel_error_sampled: cudaMemcpy(B col)");
    check_cuda(cudaMemcpy(elem.data(), d, out, cudaMemcpyDeviceToHost), "max_rel_error_sampled: cudaMemcpy(D element)");

    double ref = 0.0, sum_sq = 0.0;
    for (size_t p = 0; p < k; ++p) {
      const double term = decode(&row[p * in], s.spec.in_type) * decode(&col[p * in], s.spec.in_type);
      ref += term;
      sum_sq += term * term;
    }
    ref *= scale;
    const double typical = std::sqrt(sum_sq) * scale;
    const double got = decode(elem.data(), s.spec.out_type);
    if (!std::isfinite(got)) return std::numeric_limits<double>::infinity();
    const double denom = std::max(std::abs(ref), typical);
    // denom is 0 only for all-zero inputs (fill_random never makes them); a NaN input makes err NaN.
    const double err = denom > 0.0 ? std::abs(got - ref) / denom
                                   : (got == ref ? 0.0 : std::numeric_limits<double>::infinity());
    if (std::isnan(err)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, err);
  }
  return worst;
}

void* LtMatmul::a() const { return impl_->a; }
void* LtMatmul::b() const { return impl_->b; }
void* LtMatmul::d() const { return impl_->d; }

}  // namespace talklab::cuda
