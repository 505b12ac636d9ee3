// A checkpointing case's model and dtype from its parameters: shared by the C++ cases (checkpointing.cpp) and the
// Python anchors (torch_anchors.cpp), so both build the same graph from the same point.
#pragma once

#include <c10/core/ScalarType.h>

#include "experiments/checkpointing/graph.h"
#include "harness/experiment.h"

namespace talklab::experiments::checkpointing {

at::ScalarType dtype_of(const Params& p);  // "bf16" or float32
// On CUDA the allocator's 512-byte rounding and all heads in one attention pass (graph.h's ModelShape).
ModelShape shape_of(const Params& p, Device device);

}  // namespace talklab::experiments::checkpointing
