// The fp8 and MX recipes, emulated on the bf16 kernel (matmul_emulated.cpp).
#pragma once

#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::matmul {

std::vector<Implementation> emulated_implementations();

}  // namespace talklab::experiments::matmul
