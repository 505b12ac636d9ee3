// LibTorch's attention, what a user would pick instead of flash_cpu: torch_eager and torch_sdpa.
#pragma once

#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::attention {

std::vector<Implementation> torch_implementations();

}  // namespace talklab::experiments::attention
