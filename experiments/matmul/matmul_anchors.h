// PyTorch's own CPU matmuls, run from Python inside bench (harness/python.h) on the matmul case's tensors:
// torch_compiled_bf16 (Inductor's max-autotune GEMM), torch_int4_weight, torch_int8_weight, torch_int8_dynamic and
// torch_fp8_scaled_mm. The Python is experiments/matmul/torch_anchors.py.
#pragma once

#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::matmul {

std::vector<Implementation> torch_anchor_implementations();

}  // namespace talklab::experiments::matmul
