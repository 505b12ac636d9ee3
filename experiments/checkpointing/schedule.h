// From a plan (which values the forward keeps for backward) to the exact sequence of steps the executor runs
// and the simulator replays: forward, recompute, backward and free steps.
//
// The forward computes every node and frees each value after its last forward use unless the plan saves it.
// The backward walks the nodes in reverse; before a node's backward it recomputes what that backward reads
// and is not live, from the nearest live values (recursively: recomputing a value first makes its inputs
// live). A recomputed value is then kept until its last use, so nothing is recomputed twice; every value is
// freed right after its last use (liveness over the whole step list). Dropout is recomputed with the same
// seed, hence the same mask.
#pragma once

#include <cstdint>
#include <vector>

#include "experiments/checkpointing/graph.h"

namespace talklab::experiments::checkpointing {

// saved[v] for every value id: keep v from the forward for the backward (unused ones are freed anyway).
struct Plan {
  std::vector<char> saved;
};

struct Step {
  enum Kind { forward, recompute, backward, free_value, boundary } kind;
  int node = -1;   // forward, recompute, backward
  int value = -1;  // free_value
  // For the per-phase peaks the exact solver composes: the layer whose forward or backward this step is in
  // (the loss and its backward: shape.layers).
  int layer = 0;
  bool in_backward = false;
};

struct Schedule {
  std::vector<Step> steps;
  std::vector<int> recomputed;  // node ids, in recompute order
};

Schedule build_schedule(const Graph& g, const Plan& plan);

// What the simulator predicts from the schedule alone (byte counts of every allocation, in order).
struct Prediction {
  int64_t peak_bytes = 0;         // above what was live before the step (parameters, inputs)
  int64_t boundary_bytes = 0;     // live at the end of the forward: the activations kept for backward
  std::vector<int64_t> boundary_by_layer;  // the same, per owning layer (layers + 1 entries: the head last)
  std::vector<int64_t> forward_peak;       // per layer (and head): peak during its forward steps
  std::vector<int64_t> backward_peak;      // per layer (and head): peak during its backward steps
  double recompute_s = 0;         // sum of the measured costs of the recomputed nodes
  double recompute_flops = 0;
};

// costs[n]: measured seconds of node n's forward (may be empty: recompute_s stays 0).
Prediction simulate(const Graph& g, const Schedule& s, const std::vector<double>& costs);
Prediction simulate(const Graph& g, const Plan& p, const std::vector<double>& costs);

}  // namespace talklab::experiments::checkpointing
