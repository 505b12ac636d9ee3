// Activation quantization to fp8 e4m3 on CUDA, for the cublaslt_fp8_* recipes' act_quant_s counter: what a
// deployed fp8 linear layer pays per call before its product. Bit for bit kernels/cpu/quant/scaling.h's
// quantize_tensorwise / quantize_rowwise / quantize_blockwise (Operand::A, fp8_e4m3fn):
//   scale = max(amax / 448, 2^-126) per block (symmetric_scale.h), code = saturating RNE e4m3 of x / scale
//   (a true division, as on the CPU).
// Letters: A (M, K) fp32 row-major; codes (M, K) e4m3 bytes row-major; scales in scaling.h's grid: tensorwise
// 1 float, rowwise M (one per row), blockwise row-major (M, K / 128) (1 x 128 blocks; K % 128 == 0).
// Memory-bound: reads 4 and writes 1 byte per element (tensorwise reads A twice: amax, then the cast).
//   bench --filter 'matmul/cublaslt_fp8' --device cuda --profile gpu   (counter act_quant_s)
#pragma once

#include <cstdint>

#include "kernels/cuda/matmul/cublaslt_matmul.h"

namespace talklab::cuda {

// Throws std::invalid_argument for M, K < 1, blockwise K % 128 != 0, null pointers, or A not 16-byte
// aligned; std::runtime_error if a launch fails. `amax_scratch`: one device uint32 (tensorwise only, may be
// nullptr otherwise). Asynchronous on `stream` (a cudaStream_t).
void launch_quantize_fp8(uint8_t* codes, float* scales, const float* A, int M, int K, LtScaling scaling,
                         uint32_t* amax_scratch, void* stream);

}  // namespace talklab::cuda
