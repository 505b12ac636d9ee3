// LibTorch's attention, what a user would pick instead of flash_cpu: torch_eager and torch_sdpa; on the GPU,
// torch_eager_cuda and torch_sdpa_cuda (attention_torch_cuda.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::attention {

std::vector<Implementation> torch_implementations();

// torch_eager_cuda and torch_sdpa_cuda. Declared in every build so `bench list` shows them; where LibTorch has no
// CUDA (TALKLAB_TORCH_CUDA=0) their make is empty and missing_reason says so.
std::vector<Implementation> torch_cuda_implementations();

// Device bytes one run of torch_eager_cuda (sdpa = false) or torch_sdpa_cuda needs at its peak, inputs included:
// the (B, H, S, S) scores dominate the eager path, a dense (S, S) mask the SDPA path.
double torch_cuda_peak_estimate(const Params& p, bool sdpa);
// Why such a case cannot run on a device of device_bytes (more than 90% of it), "" when it can or when
// device_bytes is 0 (no device: the harness gives its own reason).
std::string torch_cuda_memory_skip(const Params& p, bool sdpa, int64_t device_bytes);

}  // namespace talklab::experiments::attention
