// The executor: runs a plan's schedule (schedule.h) on ATen tensors through the same walk the simulator
// replays (interpreter.h), and measures what it allocated: with the tracking allocator on the CPU, with
// LibTorch's caching allocator on CUDA (MemoryMeter). The tensors' device and dtype say where and how it runs.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>

#include <cstdint>
#include <vector>

#include "experiments/checkpointing/schedule.h"
#include "harness/check.h"

namespace talklab::experiments::checkpointing {

// Parameters (gains (1, D) around 1, weights N(0, 1/fan_in)), input x ~ N(0, 1) and target ~ N(0, 1), drawn
// in float32 on `options`' device from `seed` and converted to its dtype (so a float32 and a bf16 model of one
// seed are the same model up to rounding; the CPU and a GPU draw different numbers).
struct ModelTensors {
  std::vector<at::Tensor> params;
  at::Tensor input, target;
};
ModelTensors make_model(const Graph& g, uint64_t seed, at::TensorOptions options = at::kFloat);
ModelTensors to_options(const ModelTensors& m, at::TensorOptions options);

// The bytes a step allocates on `device`: the tracking allocator's count on the CPU, LibTorch's caching
// allocator's allocated bytes (all pools) on CUDA.
class MemoryMeter {
 public:
  explicit MemoryMeter(at::Device device) : cuda_(device.is_cuda()) {}
  int64_t current() const;
  int64_t peak() const;  // since the last reset_peak()
  void reset_peak() const;

 private:
  bool cuda_;
};

struct StepMemory {
  int64_t peak_bytes = 0;      // tracked bytes above what was live when the step began
  int64_t boundary_bytes = 0;  // live at the end of the forward (the activations kept), same reference
  int64_t live_before = 0;     // tracked bytes live when the step began (parameters, inputs, ...)
};

// Gradients against float64, normwise per parameter; the worst parameter is reported. Tolerances per dtype:
//   float32  1e-5, any depth (the bound; measured at most ~1e-6 on the profiles' shapes)
//   bf16     0.02 sqrt(L) for L layers. Every activation, parameter and gradient is stored with an 8-bit
//            significand (unit roundoff 2^-9) and each of a layer's ~15 ops rounds once on the way forward and
//            again on the way back, so the error of the first layers' gradients grows like sqrt(L): measured on
//            the CPU (test_executor.cpp prints it) 0.024 at 3 layers and 0.042 at 8 with the scores path (CUDA's
//            attention), i.e. 0.014-0.015 sqrt(L); 0.014 and 0.025 with the CPU's flash attention.
inline constexpr double kF32Tolerance = 1e-5;
inline constexpr double kBf16ToleranceRootL = 0.02;
double grad_tolerance(at::ScalarType dtype, int64_t layers);  // by the rules above; throws for any other dtype
Accuracy compare_grads(const std::vector<at::Tensor>& out, const std::vector<at::Tensor>& ref, double tolerance);

// The gradients of one step in float64 through the executor with the full-recompute plan, on m's device: the
// reference for CUDA cases, whose model is too large for float64 autograd's saved tensors (at 16 layers,
// d_model 2048, 4 x 2048 tokens those are ~80 GiB). The ops it runs are checked against float64 autograd in
// the tests.
std::vector<at::Tensor> float64_step_grads(const Graph& g, const ModelTensors& m);

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
