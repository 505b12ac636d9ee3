// The fixed checkpointing policies, each a Plan (which values the forward keeps):
//   save_all    no checkpointing: every value a backward reads is kept
//   full        each layer's input (and the loss's input): the backward recomputes one layer at a time
//   every_k     the input of every k-th layer: segments of k layers are recomputed at once
//   sqrt_n      Chen et al. 2016: sqrt(L) segments of sqrt(L) layers, i.e. every_k with k = ceil(sqrt(L))
//   selective   SAC: layer inputs (the checkpointed region's inputs, as torch.utils.checkpoint keeps) plus
//               whatever a per-op policy callback says to save
#pragma once

#include <functional>

#include "experiments/checkpointing/schedule.h"

namespace talklab::experiments::checkpointing {

// torch.utils.checkpoint.CheckpointPolicy. In eager execution must_* and prefer_* act alike; the names say
// how strongly a user meant it (PyTorch's compiler may override prefer_*).
enum class SacDecision { must_save, prefer_save, prefer_recompute, must_recompute };
using SacPolicy = std::function<SacDecision(const Graph&, const Node&)>;

// The built-in policy: save matmul and attention outputs, recompute pointwise and norm ops.
SacDecision save_matmuls_and_attention(const Graph& g, const Node& n);

Plan save_all_plan(const Graph& g);
Plan full_plan(const Graph& g);
Plan every_k_plan(const Graph& g, int k);
Plan sqrt_n_plan(const Graph& g);
Plan selective_plan(const Graph& g, const SacPolicy& policy = save_matmuls_and_attention);
// Only the external inputs: the backward recomputes everything it reads (PyTorch's budget 0).
Plan recompute_all_plan(const Graph& g);

inline constexpr int kEveryK = 2;

}  // namespace talklab::experiments::checkpointing
