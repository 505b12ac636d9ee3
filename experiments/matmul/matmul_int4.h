// The int4_w4a16 recipe: int4 group-quantized weights x bf16 activations (matmul_int4.cpp).
#pragma once

#include "harness/experiment.h"

namespace talklab::experiments::matmul {

Implementation int4_w4a16_implementation();

}  // namespace talklab::experiments::matmul
