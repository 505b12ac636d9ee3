// LibTorch's decode attention, what a user would run instead of decode_cpu: torch_sdpa, torch_eager, and
// torch_flex (registered, skipped with its reason).
#pragma once

#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::decode {

std::vector<Implementation> torch_implementations();

}  // namespace talklab::experiments::decode
