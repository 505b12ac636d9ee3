// Op costs measured on this machine rather than estimated from FLOPs: each node's forward, timed on random
// inputs of its shapes (median of a few runs), cached per (op, shapes) for the process's lifetime.
#pragma once

#include <vector>

#include "experiments/checkpointing/graph.h"

namespace talklab::experiments::checkpointing {

// Seconds per node (index = node id).
std::vector<double> measure_costs(const Graph& g);

}  // namespace talklab::experiments::checkpointing
