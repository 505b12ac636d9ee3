// Device helpers of flash_cuda (kernels/cuda/attention/flash_cuda.cu): the two element types as traits (the mma
// variant and the fp32 -> 16-bit packing) and the row reductions across a quad. The PTX itself is in
// kernels/cuda/ptx.cuh, with the fragment layouts. Two adjacent 8-column C tiles hold exactly the A fragment of one
// 16-column k step: P goes from the Q.K^T accumulators to the P.V operand in registers.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/ptx.cuh"

namespace talklab::cuda::attention::device {

struct Bf16 {
  // d += a * b on the tensor cores, fp32 accumulate.
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    ptx::mma_bf16_16816(d, a, b0, b1);
  }
  // Round to nearest even; `lo` lands in the low half (the smaller column index of a fragment pair).
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  }
};

struct Fp16 {
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    ptx::mma_fp16_16816(d, a, b0, b1);
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  }
};

// Sum and max over the four lanes (t = 0..3) that hold one accumulator row.
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

}  // namespace talklab::cuda::attention::device
