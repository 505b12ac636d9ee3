// What the checkpointing tests share: small shapes and deterministic costs (FLOPs, not timings).
#pragma once

#include <vector>

#include "experiments/checkpointing/graph.h"

namespace talklab::experiments::checkpointing::test_support {

inline ModelShape shape(int64_t layers, int64_t d_model, int64_t heads, int64_t seq, int64_t batch) {
  return ModelShape{layers, d_model, heads, seq, batch};
}

// A cost per node that orders ops as FLOPs do, with a floor so pointwise ops are not free.
inline std::vector<double> flop_costs(const Graph& g) {
  std::vector<double> c;
  for (const Node& n : g.nodes) c.push_back(g.flops(n) * 1e-10 + 1e-7);
  return c;
}

}  // namespace talklab::experiments::checkpointing::test_support
