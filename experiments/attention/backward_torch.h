// LibTorch's attention backward, what a PyTorch user trains with instead of flash_cpu_backward: torch_eager and
// torch_sdpa through autograd, and torch_flex (compiled FlexAttention, backward_flex.cpp).
#pragma once

#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::attention {

std::vector<Implementation> torch_backward_implementations();

}  // namespace talklab::experiments::attention
