#include "experiments/checkpointing/policies.h"

#include <cmath>

namespace talklab::experiments::checkpointing {
namespace {

Plan empty_plan(const Graph& g) { return Plan{std::vector<char>(g.values.size(), 0)}; }

// The layer inputs of every k-th layer, and the loss's input.
Plan boundaries(const Graph& g, int k) {
  Plan p = empty_plan(g);
  for (size_t l = 0; l < g.layer_inputs.size(); l += size_t(k)) p.saved[size_t(g.layer_inputs[l])] = 1;
  p.saved[size_t(g.output)] = 1;
  return p;
}

}  // namespace

SacDecision save_matmuls_and_attention(const Graph&, const Node& n) {
  return is_pointwise(n.kind) ? SacDecision::prefer_recompute : SacDecision::prefer_save;
}

Plan save_all_plan(const Graph& g) { return Plan{std::vector<char>(g.values.size(), 1)}; }
Plan full_plan(const Graph& g) { return boundaries(g, 1); }
Plan every_k_plan(const Graph& g, int k) { return boundaries(g, k); }
Plan sqrt_n_plan(const Graph& g) { return boundaries(g, int(std::ceil(std::sqrt(double(g.shape.layers))))); }
Plan recompute_all_plan(const Graph& g) { return empty_plan(g); }

Plan selective_plan(const Graph& g, const SacPolicy& policy) {
  Plan p = boundaries(g, 1);
  for (const Node& n : g.nodes) {
    const SacDecision d = policy(g, n);
    if (d == SacDecision::must_save || d == SacDecision::prefer_save) p.saved[size_t(n.output)] = 1;
  }
  return p;
}

}  // namespace talklab::experiments::checkpointing
