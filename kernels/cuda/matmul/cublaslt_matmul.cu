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
//
// fp8 scales follow the same swap: cuBLASLt's A scale is our B's, its B scale our A's. Rowwise = OUTER_VEC_32F
// on both (vectors of N for A' and M for B', which are our B's columns and A's rows: no conversion).
// Blockwise = BLK128x128_32F on A' (our B) and VEC128_32F on B' (our A): the one mixed pair cuBLASLt supports
// with a 128x128 operand (BLK128x128 on both is not supported). Layouts (cuBLAS docs, "Scaling factors
// layouts"), with L = ceil(K/128) and cuBLASLt's m = our N, n = our M:
//   VEC128_32F on B' (n x k = M x K): "N-major", shape n x L: scale (i, b) at [b*M + i]
//   BLK128x128_32F on A' (m x k = N x K): "K-major", shape L4 x ceil(m/128) with L4 = round_up(L, 4) the
//     stride between columns: scale (b, jb) at [jb*L4 + b]
// lt_device_a_scales / lt_device_b_scales convert from scaling.h's row-major grids to these on the host.
#include "kernels/cuda/matmul/cublaslt_matmul.h"

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
#include <utility>
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
constexpr uint64_t kTensorA = 1, kTensorB = 2, kSamples = 3, kScaleA = 4, kScaleB = 5;  // independent hash streams
constexpr int kScaledFp8MinCc = 90;  // rowwise / blockwise fp8: Hopper (tensorwise: spec_of(fp8).min_cc, Ada)

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

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::string describe_problem(LtDtype dtype, LtScaling scaling, int64_t M, int64_t N, int64_t K) {
  std::string s = std::string("LtMatmul(") + lt_dtype_name(dtype);
  if (dtype == LtDtype::fp8_e4m3) s += std::string(" ") + lt_scaling_name(scaling);
  return s + ", M=" + std::to_string(M) + ", N=" + std::to_string(N) + ", K=" + std::to_string(K) + "): ";
}

// Shape rules the library's fp8 kernels and our scale layouts impose; throws std::invalid_argument.
void check_shape(LtDtype dtype, LtScaling scaling, int64_t M, int64_t N, int64_t K, const std::string& where) {
  if (M <= 0 || N <= 0 || K <= 0) throw std::invalid_argument(where + "M, N and K must be positive");
  if (dtype != LtDtype::fp8_e4m3) {
    if (scaling != LtScaling::tensorwise) {
      throw std::invalid_argument(where + "only fp8 takes rowwise or blockwise scales");
    }
    return;
  }
  // cuBLASLt's fp8 kernels need 16-byte aligned rows (K bytes per row of A and B) and tensor-core tiles.
  if (M % 16 != 0 || N % 16 != 0 || K % 16 != 0) {
    throw std::invalid_argument(where + "fp8 needs M, N and K to be multiples of 16");
  }
  if (scaling == LtScaling::blockwise && K % kLtBlock != 0) {
    throw std::invalid_argument(where + "blockwise fp8 needs K to be a multiple of 128 (1x128 / 128x128 blocks)");
  }
}

int32_t lt_scale_mode(LtScaling scaling, bool is_our_a) {
  switch (scaling) {
    case LtScaling::tensorwise: return CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F;
    case LtScaling::rowwise: return CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    case LtScaling::blockwise:
      return is_our_a ? CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F : CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
  }
  throw std::invalid_argument("LtMatmul: unknown LtScaling");
}

// One random scale in [1/4, 4): 2^(4u - 2), u uniform from the hash.
float random_scale(uint64_t key, uint64_t index) {
  const float u = static_cast<float>(mix64(key ^ mix64(index)) >> 40) * 0x1.0p-24f;
  return std::exp2(4.0f * u - 2.0f);
}

}  // namespace

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

size_t lt_a_scale_count(LtScaling scaling, int64_t M, int64_t K) {
  if (M <= 0 || K <= 0) throw std::invalid_argument("lt_a_scale_count: M and K must be positive");
  switch (scaling) {
    case LtScaling::tensorwise: return 1;
    case LtScaling::rowwise: return static_cast<size_t>(M);
    case LtScaling::blockwise:
      if (K % kLtBlock != 0) {
        throw std::invalid_argument("lt_a_scale_count: blockwise needs K a multiple of 128, K = " + std::to_string(K));
      }
      return static_cast<size_t>(M) * static_cast<size_t>(K / kLtBlock);
  }
  throw std::invalid_argument("lt_a_scale_count: unknown LtScaling");
}

size_t lt_b_scale_count(LtScaling scaling, int64_t N, int64_t K) {
  if (N <= 0 || K <= 0) throw std::invalid_argument("lt_b_scale_count: N and K must be positive");
  switch (scaling) {
    case LtScaling::tensorwise: return 1;
    case LtScaling::rowwise: return static_cast<size_t>(N);
    case LtScaling::blockwise:
      if (K % kLtBlock != 0) {
        throw std::invalid_argument("lt_b_scale_count: blockwise needs K a multiple of 128, K = " + std::to_string(K));
      }
      return static_cast<size_t>(K / kLtBlock) * static_cast<size_t>(ceil_div(N, kLtBlock));
  }
  throw std::invalid_argument("lt_b_scale_count: unknown LtScaling");
}

std::vector<float> lt_device_a_scales(LtScaling scaling, const float* a_scale, int64_t M, int64_t K) {
  const size_t count = lt_a_scale_count(scaling, M, K);
  if (scaling != LtScaling::blockwise) return std::vector<float>(a_scale, a_scale + count);
  const int64_t L = K / kLtBlock;
  std::vector<float> out(count);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t b = 0; b < L; ++b) out[static_cast<size_t>(b * M + i)] = a_scale[i * L + b];
  }
  return out;
}

std::vector<float> lt_device_b_scales(LtScaling scaling, const float* b_scale, int64_t N, int64_t K) {
  const size_t count = lt_b_scale_count(scaling, N, K);
  if (scaling != LtScaling::blockwise) return std::vector<float>(b_scale, b_scale + count);
  const int64_t L = K / kLtBlock, L4 = ceil_div(L, 4) * 4, nb = ceil_div(N, kLtBlock);
  std::vector<float> out(static_cast<size_t>(L4 * nb), 0.0f);
  for (int64_t b = 0; b < L; ++b) {
    for (int64_t jb = 0; jb < nb; ++jb) out[static_cast<size_t>(jb * L4 + b)] = b_scale[b * nb + jb];
  }
  return out;
}

struct LtMatmul::Impl {
  DtypeSpec spec{};
  LtScaling scaling = LtScaling::tensorwise;
  int64_t M = 0, N = 0, K = 0;
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
  float* a_scale = nullptr;  // device, in cuBLASLt's layout
  float* b_scale = nullptr;
  void* workspace = nullptr;
  // Host copies of the scales in our (scaling.h) layout, for the sampled reference; {1} for non-fp8 dtypes.
  std::vector<float> a_scale_host{1.0f}, b_scale_host{1.0f};

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

  // Checks the device, allocates the scales (fp8) and describes the product to cuBLASLt down to the
  // heuristic's choice; throws (std::invalid_argument, std::runtime_error) naming what failed. The operands
  // are not needed for this, so lt_unsupported_reason() runs it alone.
  void describe(LtDtype dtype, const std::string& where);

  float a_scale_at(int64_t i, int64_t k) const {
    switch (scaling) {
      case LtScaling::tensorwise: return a_scale_host[0];
      case LtScaling::rowwise: return a_scale_host[static_cast<size_t>(i)];
      case LtScaling::blockwise: return a_scale_host[static_cast<size_t>(i * (K / kLtBlock) + k / kLtBlock)];
    }
    return 0.0f;
  }
  float b_scale_at(int64_t k, int64_t j) const {
    switch (scaling) {
      case LtScaling::tensorwise: return b_scale_host[0];
      case LtScaling::rowwise: return b_scale_host[static_cast<size_t>(j)];
      case LtScaling::blockwise:
        return b_scale_host[static_cast<size_t>((k / kLtBlock) * ceil_div(N, kLtBlock) + j / kLtBlock)];
    }
    return 0.0f;
  }
  // Host scales (our layout) to the host copies and the device buffers (cuBLASLt's layout). Synchronous.
  void set_scales(const float* a_host, const float* b_host) {
    a_scale_host.assign(a_host, a_host + lt_a_scale_count(scaling, M, K));
    b_scale_host.assign(b_host, b_host + lt_b_scale_count(scaling, N, K));
    const std::vector<float> a_dev = lt_device_a_scales(scaling, a_host, M, K);
    const std::vector<float> b_dev = lt_device_b_scales(scaling, b_host, N, K);
    check_cuda(cudaMemcpy(a_scale, a_dev.data(), a_dev.size() * sizeof(float), cudaMemcpyHostToDevice),
               "LtMatmul: cudaMemcpy(a_scale)");
    check_cuda(cudaMemcpy(b_scale, b_dev.data(), b_dev.size() * sizeof(float), cudaMemcpyHostToDevice),
               "LtMatmul: cudaMemcpy(b_scale)");
  }
};

void LtMatmul::Impl::describe(LtDtype dtype, const std::string& where) {
  auto call = [&](const char* name) { return where + name; };
  int device = 0, major = 0, minor = 0;
  check_cuda(cudaGetDevice(&device), call("cudaGetDevice").c_str());
  check_cuda(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
             call("cudaDeviceGetAttribute(cudaDevAttrComputeCapabilityMajor)").c_str());
  check_cuda(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device),
             call("cudaDeviceGetAttribute(cudaDevAttrComputeCapabilityMinor)").c_str());
  const int need = (dtype == LtDtype::fp8_e4m3 && scaling != LtScaling::tensorwise) ? kScaledFp8MinCc : spec.min_cc;
  if (major * 10 + minor < need) {
    throw std::runtime_error(where + "needs compute capability >= " + std::to_string(need / 10) + "." +
                             std::to_string(need % 10) + ", device " + std::to_string(device) + " is " +
                             std::to_string(major) + "." + std::to_string(minor));
  }
  // Newer devices than Hopper are left to the heuristic: cuBLAS documents rowwise / blockwise for 9.0 only, and a
  // library that does not run them there answers CUBLAS_STATUS_NOT_SUPPORTED below, which names the reason.
  const std::string scaled_note =
      (dtype == LtDtype::fp8_e4m3 && scaling != LtScaling::tensorwise && major * 10 + minor != kScaledFp8MinCc)
          ? " (cuBLAS documents " + std::string(lt_scaling_name(scaling)) + " fp8 scales for compute capability 9.0 " +
                "only; this device is " + std::to_string(major) + "." + std::to_string(minor) + ")"
          : "";

  const auto m = static_cast<size_t>(M), n = static_cast<size_t>(N), k = static_cast<size_t>(K);
  check_cublas(cublasLtCreate(&handle), call("cublasLtCreate").c_str());
  check_cublas(cublasLtMatmulDescCreate(&op, spec.compute, CUDA_R_32F), call("cublasLtMatmulDescCreate").c_str());
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  check_cublas(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a),
               call("cublasLtMatmulDescSetAttribute(TRANSA)").c_str());
  check_cublas(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b),
               call("cublasLtMatmulDescSetAttribute(TRANSB)").c_str());
  if (dtype == LtDtype::fp8_e4m3) {
    // cuBLASLt's A' is our B: its A scale (pointer and mode) is our B's, its B scale our A's.
    // A's device layout has as many floats as ours; B's blockwise one pads each column of blocks to L4.
    const size_t a_dev = lt_a_scale_count(scaling, M, K);
    const size_t b_dev = scaling == LtScaling::blockwise
                             ? static_cast<size_t>(ceil_div(K / kLtBlock, 4) * 4 * ceil_div(N, kLtBlock))
                             : lt_b_scale_count(scaling, N, K);
    check_cuda(cudaMalloc(reinterpret_cast<void**>(&a_scale), a_dev * sizeof(float)), call("cudaMalloc(a_scale)").c_str());
    check_cuda(cudaMalloc(reinterpret_cast<void**>(&b_scale), b_dev * sizeof(float)), call("cudaMalloc(b_scale)").c_str());
    check_cuda(cudaMemset(b_scale, 0, b_dev * sizeof(float)), call("cudaMemset(b_scale)").c_str());  // L4 padding
    const std::vector<float> ones_a(lt_a_scale_count(scaling, M, K), 1.0f), ones_b(lt_b_scale_count(scaling, N, K), 1.0f);
    set_scales(ones_a.data(), ones_b.data());  // until fill_random or upload sets them
    const void* lt_a_scale = b_scale;
    const void* lt_b_scale = a_scale;
    check_cublas(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &lt_a_scale,
                                                sizeof lt_a_scale),
                 call("cublasLtMatmulDescSetAttribute(A_SCALE_POINTER)").c_str());
    check_cublas(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &lt_b_scale,
                                                sizeof lt_b_scale),
                 call("cublasLtMatmulDescSetAttribute(B_SCALE_POINTER)").c_str());
    if (scaling != LtScaling::tensorwise) {  // tensorwise is the default mode: left unset, as before
      const int32_t lt_a_mode = lt_scale_mode(scaling, false), lt_b_mode = lt_scale_mode(scaling, true);
      check_cublas(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &lt_a_mode, sizeof lt_a_mode),
                   call("cublasLtMatmulDescSetAttribute(A_SCALE_MODE)").c_str());
      check_cublas(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &lt_b_mode, sizeof lt_b_mode),
                   call("cublasLtMatmulDescSetAttribute(B_SCALE_MODE)").c_str());
    }
  }

  check_cublas(cublasLtMatrixLayoutCreate(&layout_a, spec.in_type, k, n, K),
               call("cublasLtMatrixLayoutCreate(A' = B, K x N)").c_str());
  check_cublas(cublasLtMatrixLayoutCreate(&layout_b, spec.in_type, k, m, K),
               call("cublasLtMatrixLayoutCreate(B' = A, K x M)").c_str());
  check_cublas(cublasLtMatrixLayoutCreate(&layout_d, spec.out_type, n, m, N),
               call("cublasLtMatrixLayoutCreate(D^T, N x M)").c_str());

  check_cublas(cublasLtMatmulPreferenceCreate(&preference), call("cublasLtMatmulPreferenceCreate").c_str());
  const uint64_t workspace_bytes = kWorkspaceBytes;
  check_cublas(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &workspace_bytes, sizeof workspace_bytes),
               call("cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)").c_str());
  // A split-K reduction in the output type would round partial sums to bf16/fp16: not the fp32 accumulation
  // this product promises (and its accuracy check assumes).
  const uint32_t reduction_mask = CUBLASLT_REDUCTION_SCHEME_INPLACE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  check_cublas(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                    &reduction_mask, sizeof reduction_mask),
               call("cublasLtMatmulPreferenceSetAttribute(REDUCTION_SCHEME_MASK)").c_str());

  int returned = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle, op, layout_a, layout_b, layout_d, layout_d,
                                                               preference, 1, &heuristic, &returned);
  check_cublas(status, (call("cublasLtMatmulAlgoGetHeuristic") + scaled_note).c_str());
  if (returned == 0 || heuristic.state != CUBLAS_STATUS_SUCCESS) {
    const cublasStatus_t why = returned == 0 ? CUBLAS_STATUS_NOT_SUPPORTED : heuristic.state;
    check_cublas(why, (call("cublasLtMatmulAlgoGetHeuristic returned no usable algorithm") + scaled_note).c_str());
  }
}

std::string lt_unsupported_reason(LtDtype dtype, LtScaling scaling, int64_t M, int64_t N, int64_t K) {
  try {
    const std::string where = describe_problem(dtype, scaling, M, N, K);
    check_shape(dtype, scaling, M, N, K, where);
    LtMatmul::Impl probe;
    probe.spec = spec_of(dtype);
    probe.scaling = scaling;
    probe.M = M;
    probe.N = N;
    probe.K = K;
    probe.describe(dtype, where);
    return "";
  } catch (const std::exception& e) {
    (void)cudaGetLastError();  // a failed runtime call must not leave its error for an unrelated later check
    return e.what();
  }
}

LtMatmul::LtMatmul(LtDtype dtype, int64_t M, int64_t N, int64_t K, void* stream, LtScaling scaling)
    : dtype_(dtype), scaling_(scaling), M_(M), N_(N), K_(K), impl_(std::make_unique<Impl>()) {
  const std::string where = describe_problem(dtype, scaling, M, N, K);
  auto call = [&](const char* name) { return where + name; };
  check_shape(dtype, scaling, M, N, K, where);

  Impl& s = *impl_;
  s.spec = spec_of(dtype);
  s.scaling = scaling;
  s.M = M;
  s.N = N;
  s.K = K;
  s.stream = static_cast<cudaStream_t>(stream);
  s.describe(dtype, where);

  const auto m = static_cast<size_t>(M), n = static_cast<size_t>(N), k = static_cast<size_t>(K);
  check_cuda(cudaMalloc(&s.a, m * k * s.spec.in_bytes), call("cudaMalloc(A)").c_str());
  check_cuda(cudaMalloc(&s.b, k * n * s.spec.in_bytes), call("cudaMalloc(B)").c_str());
  check_cuda(cudaMalloc(&s.d, m * n * s.spec.out_bytes), call("cudaMalloc(D)").c_str());
  check_cuda(cudaMalloc(&s.workspace, kWorkspaceBytes), call("cudaMalloc(workspace)").c_str());
}

LtMatmul::~LtMatmul() = default;

void LtMatmul::fill_random(uint64_t seed) {
  seed_ = seed;
  Impl& s = *impl_;
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
    case LtDtype::fp8_e4m3: {
      launch_fill<__nv_fp8_e4m3>(s.a, m * k, key_a, s.stream);
      launch_fill<__nv_fp8_e4m3>(s.b, k * n, key_b, s.stream);
      std::vector<float> a_scale(lt_a_scale_count(scaling_, M_, K_), kFp8Scale);
      std::vector<float> b_scale(lt_b_scale_count(scaling_, N_, K_), kFp8Scale);
      if (scaling_ != LtScaling::tensorwise) {
        const uint64_t key_sa = mix64(seed ^ mix64(kScaleA)), key_sb = mix64(seed ^ mix64(kScaleB));
        for (size_t i = 0; i < a_scale.size(); ++i) a_scale[i] = random_scale(key_sa, i);
        for (size_t i = 0; i < b_scale.size(); ++i) b_scale[i] = random_scale(key_sb, i);
      }
      // The device scales may still be read by a product enqueued earlier on the stream.
      check_cuda(cudaStreamSynchronize(s.stream), "LtMatmul::fill_random: cudaStreamSynchronize");
      s.set_scales(a_scale.data(), b_scale.data());
      break;
    }
  }
}

void LtMatmul::upload(const void* a, const void* b, const float* a_scale, const float* b_scale) {
  Impl& s = *impl_;
  const std::string where = describe_problem(dtype_, scaling_, M_, N_, K_) + "upload: ";
  if (a == nullptr || b == nullptr) throw std::invalid_argument(where + "a and b must not be null");
  const bool fp8 = dtype_ == LtDtype::fp8_e4m3;
  if (fp8 != (a_scale != nullptr) || fp8 != (b_scale != nullptr)) {
    throw std::invalid_argument(where + (fp8 ? "fp8 needs a_scale and b_scale" : "only fp8 takes scales"));
  }
  // A product still running on the stream may read the buffers being replaced.
  check_cuda(cudaStreamSynchronize(s.stream), (where + "cudaStreamSynchronize").c_str());
  const auto m = static_cast<size_t>(M_), n = static_cast<size_t>(N_), k = static_cast<size_t>(K_);
  check_cuda(cudaMemcpy(s.a, a, m * k * s.spec.in_bytes, cudaMemcpyHostToDevice), (where + "cudaMemcpy(A)").c_str());
  check_cuda(cudaMemcpy(s.b, b, k * n * s.spec.in_bytes, cudaMemcpyHostToDevice), (where + "cudaMemcpy(B)").c_str());
  if (fp8) s.set_scales(a_scale, b_scale);
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
    check_cublas(status, (describe_problem(dtype_, scaling_, M_, N_, K_) + "cublasLtMatmul").c_str());
  }
}

void LtMatmul::download_output(float* d) {
  const Impl& s = *impl_;
  check_cuda(cudaStreamSynchronize(s.stream), "LtMatmul::download_output: cudaStreamSynchronize");
  const size_t count = static_cast<size_t>(M_) * static_cast<size_t>(N_), out = s.spec.out_bytes;
  std::vector<unsigned char> raw(count * out);
  check_cuda(cudaMemcpy(raw.data(), s.d, raw.size(), cudaMemcpyDeviceToHost), "LtMatmul::download_output: cudaMemcpy(D)");
  for (size_t i = 0; i < count; ++i) d[i] = static_cast<float>(decode(&raw[i * out], s.spec.out_type));
}

double LtMatmul::bytes() const {
  const double in = static_cast<double>(impl_->spec.in_bytes), out = static_cast<double>(impl_->spec.out_bytes);
  const double m = static_cast<double>(M_), n = static_cast<double>(N_), k = static_cast<double>(K_);
  return (m * k + k * n) * in + m * n * out;
}

int LtMatmul::algorithm_id() const {
  int32_t id = -1;
  size_t written = 0;
  check_cublas(cublasLtMatmulAlgoConfigGetAttribute(&impl_->heuristic.algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof id,
                                                    &written),
               "LtMatmul::algorithm_id: cublasLtMatmulAlgoConfigGetAttribute(CUBLASLT_ALGO_CONFIG_ID)");
  return id;
}

size_t LtMatmul::workspace_bytes() const { return impl_->heuristic.workspaceSize; }

double LtMatmul::max_rel_error_sampled(int samples) {
  if (samples <= 0) throw std::invalid_argument("LtMatmul::max_rel_error_sampled: samples must be positive");
  const Impl& s = *impl_;
  check_cuda(cudaStreamSynchronize(s.stream), "LtMatmul::max_rel_error_sampled: cudaStreamSynchronize");

  const size_t k = static_cast<size_t>(K_), in = s.spec.in_bytes, out = s.spec.out_bytes;
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
      const auto kp = static_cast<int64_t>(p);
      const double scale = static_cast<double>(s.a_scale_at(static_cast<int64_t>(i), kp)) *
                           static_cast<double>(s.b_scale_at(kp, static_cast<int64_t>(j)));
      const double term = decode(&row[p * in], s.spec.in_type) * decode(&col[p * in], s.spec.in_type) * scale;
      ref += term;
      sum_sq += term * term;
    }
    const double typical = std::sqrt(sum_sq);
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
