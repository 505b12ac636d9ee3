// The matmul experiment's device=cuda implementations: the cuBLASLt recipes and our W4A16 decode kernel
// (matmul_cuda.cpp). Declared in every build; without CUDA their make is empty and missing_reason says so.
#pragma once

#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::matmul {

std::vector<Implementation> cuda_matmul_implementations();

}  // namespace talklab::experiments::matmul
