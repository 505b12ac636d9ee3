// LibTorch autograd on the same model: the baseline for gradients, peak memory and step time. The only
// translation unit of the experiment that includes autograd headers.
//
//   reference_grads   the model written plainly (composite RMSNorm, eager softmax attention with a causal
//                     mask, dropout as a product with the same mask) in float64: the gradients every policy
//                     is checked against. None of our backward formulas is used.
//   AutogradStep      in the model's dtype and on its device, what a user would run: plain ops, except
//                     attention, dropout and the loss, which are autograd Functions around our kernels (as SDPA's
//                     flash kernel keeps q, k, v rather than the probabilities, as a counter-based RNG keeps a
//                     seed rather than the mask; the loss keeps what at::mse_loss keeps, in every dtype on every
//                     device).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "experiments/checkpointing/executor.h"

namespace talklab::experiments::checkpointing {

std::vector<at::Tensor> reference_grads(const Graph& g, const ModelTensors& m);  // float64, per parameter

class AutogradStep {
 public:
  AutogradStep(const Graph& g, const ModelTensors& m);
  ~AutogradStep();
  StepMemory run(std::vector<at::Tensor>* param_grads);  // peak above what was live when the step began

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace talklab::experiments::checkpointing
