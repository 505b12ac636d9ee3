// LibTorch's matmul in float32 (OpenBLAS) and bf16 (oneDNN): what a user would call instead.
#pragma once

#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::matmul {

std::vector<Implementation> torch_implementations();

}  // namespace talklab::experiments::matmul
