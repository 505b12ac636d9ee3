// fp8 e4m3 activation quantization (see fp8_quant.h for what it computes and the layouts).
// Memory-bound: 5 bytes per element. Design: blockwise = one warp per 1 x 128 block (a float4 per lane, a
// warp max, one 4-byte store of codes per lane); rowwise = one block per row (strided float4 reads, a
// block max through shared memory, then the cast pass over the row, which L1 still holds); tensorwise = a
// grid-stride max into one device word (atomicMax on the bits: non-negative floats order like their bit
// patterns), then the cast pass. At M = 8192, K = 8192 (the 8192^3 case): 335 MB moved, ~0.1 ms at 3 TB/s.
// ptxas -v (sm_90, CUDA 13.0.88): blockwise 22 registers; rowwise 30 registers, 32 bytes smem; amax 14 registers,
// 32 bytes smem; tensorwise cast 24 registers; no spills. Not yet measured (written without a GPU);
// bit-exact with the CPU codec on the SIMT emulator (docs/simt.md, ctest -R 'Simt\..*Fp8Quant').
//   bench --filter 'matmul/cublaslt_fp8' --device cuda --profile gpu   (counter act_quant_s)
#include "kernels/cuda/matmul/fp8_quant.h"

#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace talklab::cuda {

namespace {

constexpr float kE4m3Max = 448.0f;
constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr int kAmaxMaxBlocks = 1024;

__device__ __forceinline__ float scale_of(float amax) { return fmaxf(amax / kE4m3Max, FLT_MIN); }

__device__ __forceinline__ uint32_t cast4(float4 v, float scale) {
  const uint32_t c0 = __nv_cvt_float_to_fp8(v.x / scale, __NV_SATFINITE, __NV_E4M3);
  const uint32_t c1 = __nv_cvt_float_to_fp8(v.y / scale, __NV_SATFINITE, __NV_E4M3);
  const uint32_t c2 = __nv_cvt_float_to_fp8(v.z / scale, __NV_SATFINITE, __NV_E4M3);
  const uint32_t c3 = __nv_cvt_float_to_fp8(v.w / scale, __NV_SATFINITE, __NV_E4M3);
  return c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
}

__device__ __forceinline__ float abs_max4(float4 v) { return fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w))); }

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Block-wide max, the result in every thread. Uses `slots` (kWarpsPerBlock floats).
__device__ float block_max(float v, float* slots) {
  v = warp_max(v);
  if ((threadIdx.x & 31) == 0) slots[threadIdx.x >> 5] = v;
  __syncthreads();
  float m = slots[0];
#pragma unroll
  for (int w = 1; w < kWarpsPerBlock; ++w) m = fmaxf(m, slots[w]);
  return m;
}

// One warp per 1 x 128 block: blocks (m, b) numbered m * (K / 128) + b, kWarpsPerBlock per thread block.
__global__ void __launch_bounds__(kThreads)
    quantize_fp8_blockwise_kernel(uint8_t* __restrict__ codes, float* __restrict__ scales,
                                  const float* __restrict__ A, int64_t blocks) {
  const int64_t blk = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (blk >= blocks) return;
  const int lane = threadIdx.x & 31;
  const float4 v = __ldcs(reinterpret_cast<const float4*>(A + blk * 128) + lane);
  const float scale = scale_of(warp_max(abs_max4(v)));
  reinterpret_cast<uint32_t*>(codes + blk * 128)[lane] = cast4(v, scale);
  if (lane == 0) scales[blk] = scale;
}

// One thread block per row (K % 4 == 0 and rows 16-byte aligned: checked by the launcher).
__global__ void __launch_bounds__(kThreads)
    quantize_fp8_rowwise_kernel(uint8_t* __restrict__ codes, float* __restrict__ scales,
                                const float* __restrict__ A, int K) {
  __shared__ float slots[kWarpsPerBlock];
  const int64_t row = blockIdx.x;
  const float4* a = reinterpret_cast<const float4*>(A + row * K);
  const int vecs = K / 4;
  float m = 0.0f;
  for (int i = threadIdx.x; i < vecs; i += kThreads) m = fmaxf(m, abs_max4(__ldg(a + i)));
  const float scale = scale_of(block_max(m, slots));
  uint32_t* out = reinterpret_cast<uint32_t*>(codes + row * K);
  for (int i = threadIdx.x; i < vecs; i += kThreads) out[i] = cast4(__ldg(a + i), scale);
  if (threadIdx.x == 0) scales[row] = scale;
}

__global__ void __launch_bounds__(kThreads)
    amax_kernel(uint32_t* __restrict__ amax_bits, const float* __restrict__ A, int64_t vecs) {
  __shared__ float slots[kWarpsPerBlock];
  const float4* a = reinterpret_cast<const float4*>(A);
  float m = 0.0f;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < vecs;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    m = fmaxf(m, abs_max4(__ldg(a + i)));
  }
  m = block_max(m, slots);
  if (threadIdx.x == 0) atomicMax(amax_bits, __float_as_uint(m));
}

__global__ void __launch_bounds__(kThreads)
    quantize_fp8_tensorwise_kernel(uint8_t* __restrict__ codes, float* __restrict__ scales,
                                   const float* __restrict__ A, const uint32_t* __restrict__ amax_bits, int64_t vecs) {
  const float scale = scale_of(__uint_as_float(*amax_bits));
  const float4* a = reinterpret_cast<const float4*>(A);
  uint32_t* out = reinterpret_cast<uint32_t*>(codes);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < vecs;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    out[i] = cast4(__ldcs(a + i), scale);
  }
  if (blockIdx.x == 0 && threadIdx.x == 0) scales[0] = scale;
}

}  // namespace

void launch_quantize_fp8(uint8_t* codes, float* scales, const float* A, int M, int K, LtScaling scaling,
                         uint32_t* amax_scratch, void* stream) {
  const std::string where = std::string("launch_quantize_fp8(") + lt_scaling_name(scaling) + ", M=" +
                            std::to_string(M) + ", K=" + std::to_string(K) + "): ";
  if (M < 1 || K < 1) throw std::invalid_argument(where + "M and K must be positive");
  if (K % 4 != 0) throw std::invalid_argument(where + "K must be a multiple of 4 (float4 loads)");
  if (scaling == LtScaling::blockwise && K % kLtBlock != 0) {
    throw std::invalid_argument(where + "blockwise needs K a multiple of 128");
  }
  if (codes == nullptr || scales == nullptr || A == nullptr) throw std::invalid_argument(where + "null pointer");
  if (reinterpret_cast<uintptr_t>(A) % 16 != 0 || reinterpret_cast<uintptr_t>(codes) % 4 != 0) {
    throw std::invalid_argument(where + "A must be 16-byte and codes 4-byte aligned");
  }
  const auto s = static_cast<cudaStream_t>(stream);
  switch (scaling) {
    case LtScaling::blockwise: {
      const int64_t blocks = static_cast<int64_t>(M) * (K / kLtBlock);
      const auto grid = static_cast<unsigned>((blocks + kWarpsPerBlock - 1) / kWarpsPerBlock);
      TALKLAB_LAUNCH(grid, kThreads, 0, s, quantize_fp8_blockwise_kernel)(codes, scales, A, blocks);
      detail::check_launch("quantize_fp8_blockwise_kernel");
      return;
    }
    case LtScaling::rowwise:
      TALKLAB_LAUNCH(static_cast<unsigned>(M), kThreads, 0, s, quantize_fp8_rowwise_kernel)(codes, scales, A, K);
      detail::check_launch("quantize_fp8_rowwise_kernel");
      return;
    case LtScaling::tensorwise: {
      if (amax_scratch == nullptr) throw std::invalid_argument(where + "tensorwise needs amax_scratch");
      const int64_t vecs = static_cast<int64_t>(M) * K / 4;
      int64_t grid = (vecs + kThreads - 1) / kThreads;
      if (grid > kAmaxMaxBlocks) grid = kAmaxMaxBlocks;
      detail::check_cuda(cudaMemsetAsync(amax_scratch, 0, sizeof(uint32_t), s), "launch_quantize_fp8: cudaMemsetAsync");
      TALKLAB_LAUNCH(static_cast<unsigned>(grid), kThreads, 0, s, amax_kernel)(amax_scratch, A, vecs);
      detail::check_launch("amax_kernel");
      TALKLAB_LAUNCH(static_cast<unsigned>(grid), kThreads, 0, s, quantize_fp8_tensorwise_kernel)(codes, scales, A,
                                                                                                  amax_scratch, vecs);
      detail::check_launch("quantize_fp8_tensorwise_kernel");
      return;
    }
  }
  throw std::invalid_argument(where + "unknown scaling");
}

}  // namespace talklab::cuda
