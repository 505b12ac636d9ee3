// Op costs measured on this machine rather than estimated from FLOPs: each node's forward, timed on random
// inputs of its shapes, dtype and device (median of a few runs; on CUDA each run waits for the stream), cached
// per (op, shapes, dtype, device) for the process's lifetime.
#pragma once

#include <c10/core/TensorOptions.h>

#include <vector>

#include "experiments/checkpointing/graph.h"

namespace talklab::experiments::checkpointing {

// Seconds per node (index = node id).
std::vector<double> measure_costs(const Graph& g, at::TensorOptions options = at::kFloat);

}  // namespace talklab::experiments::checkpointing
