// PyTorch's own checkpointing, run by bench's embedded CPython on the case's own model (torch_compile_budget.py):
//   torch_compile_budget   torch.compile of the step under activation_memory_budget = the case's budget: PyTorch's
//                          partitioner picks what to save; the curve beside our exact solver and knapsack model
//   torch_sac              torch.utils.checkpoint per layer with selective checkpointing and our `selective`
//                          policy (policies.cpp), eager
//   torch_sac_compiled     the same under torch.compile
// CPU only: the embedded torch is the CPU LibTorch bench links. Gradients are checked against the same float64
// reference and tolerances as every C++ case (executor.h); the step's peak above what was live before it is the
// counter measured_step_peak_bytes, as for the C++ cases.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "experiments/checkpointing/graph.h"
#include "harness/experiment.h"

namespace talklab::experiments::checkpointing {

// The implementations (name, provider, applies, make or missing_reason); the caller adds the memory skip.
std::vector<Implementation> torch_anchor_implementations();

// The step's dropout masks for Python, one (T, D) bool tensor per layer in forward order: keep(seed, i) of graph.h,
// the mask ops.cpp's dropout_apply multiplies by (Python applies the 1 / (1 - p), rounding as dropout_apply does).
std::vector<at::Tensor> dropout_masks(const Graph& g);

}  // namespace talklab::experiments::checkpointing
