// The executor: runs a plan's schedule (schedule.h) on ATen tensors through the same walk the simulator
// replays (interpreter.h), and measures what it allocated with the tracking allocator.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "experiments/checkpointing/schedule.h"
#include "harness/check.h"

namespace talklab::experiments::checkpointing {

// Parameters (gains (1, D) around 1, weights N(0, 1/fan_in)), input x ~ N(0, 1) and target ~ N(0, 1),
// float32, drawn from `seed`.
struct ModelTensors {
  std::vector<at::Tensor> params;
  at::Tensor input, target;
};
ModelTensors make_model(const Graph& g, uint64_t seed);

struct StepMemory {
  int64_t peak_bytes = 0;      // tracked bytes above what was live when the step began
  int64_t boundary_bytes = 0;  // live at the end of the forward (the activations kept), same reference
  int64_t live_before = 0;     // tracked bytes live when the step began (parameters, inputs, ...)
};

// float32 gradients against float64 autograd, normwise per parameter (the bound; measured at most
// ~1e-6 on the profiles' shapes). The worst parameter is reported.
inline constexpr double kF32Tolerance = 1e-5;
Accuracy compare_grads(const std::vector<at::Tensor>& out, const std::vector<at::Tensor>& ref, double tolerance);

class Executor {
 public:
  Executor(const Graph& g, const Plan& plan);
  // One training step; the parameters' gradients land in *param_grads (one per parameter). The caller
  // releases the previous step's gradients first if they must not count.
  StepMemory run(const ModelTensors& m, std::vector<at::Tensor>* param_grads, at::Tensor* loss = nullptr) const;
  const Schedule& schedule() const { return schedule_; }

 private:
  const Graph& g_;
  Schedule schedule_;
};

}  // namespace talklab::experiments::checkpointing
