// LibTorch's matmul in float32 (OpenBLAS) and bf16 (oneDNN): what a user would call instead. On the GPU:
// torch_bf16_cuda, torch_scaled_mm and torch_scaled_mm_rowwise (matmul_torch_cuda.cpp).
#pragma once

#include <string>
#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::matmul {

std::vector<Implementation> torch_implementations();

// torch_bf16_cuda, torch_scaled_mm (fp8 e4m3, tensorwise scales), torch_scaled_mm_rowwise. Declared in every
// build so `bench list` shows them; where LibTorch has no CUDA (TALKLAB_TORCH_CUDA=0) their make is empty and
// missing_reason says so.
std::vector<Implementation> torch_cuda_implementations();

// Why at::_scaled_mm cannot run a point: K or N not a multiple of 16, or a device older than compute capability
// 8.9 (compute_capability = major * 10 + minor; 0 = no device, left to the harness). "" when it can.
std::string scaled_mm_skip(const Params& p, int compute_capability);

}  // namespace talklab::experiments::matmul
