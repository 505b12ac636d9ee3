// The attention experiment's GPU implementations. flash_cuda (attention_cuda.cpp): ours, block-sparse
// FlashAttention-2 on tensor cores (kernels/cuda/attention/). Compiled in every build; without CUDA its factory is
// empty and the case is skipped with missing_reason.
#pragma once

#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::attention {

std::vector<Implementation> cuda_implementations();

}  // namespace talklab::experiments::attention
