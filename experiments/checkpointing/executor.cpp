#include "experiments/checkpointing/executor.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "experiments/checkpointing/interpreter.h"
#include "experiments/checkpointing/ops.h"
#include "experiments/checkpointing/policies.h"
#include "harness/memory.h"
#include "harness/torch_glue.h"

namespace talklab::experiments::checkpointing {
namespace {

class AtenBackend {
 public:
  using Tensor = at::Tensor;
  static bool defined(const Tensor& t) { return t.defined(); }

  AtenBackend(const Graph& g, const ModelTensors& m, std::vector<at::Tensor>* grads, const MemoryMeter& meter,
              int64_t base)
      : g_(g), m_(m), grads_(grads), meter_(meter), base_(base) {}

  Tensor forward(const Node& n, const std::vector<Tensor>& values) {
    Tensor out = op_forward(g_, n, values, m_.params);
    if (n.output == g_.loss) loss = out;
    return out;
  }
  std::vector<Tensor> backward(const Node& n, const std::vector<Tensor>& values, const Tensor& grad_out) {
    at::Tensor unused;
    return op_backward(g_, n, values, grad_out, m_.params, n.param >= 0 ? &(*grads_)[size_t(n.param)] : &unused);
  }
  Tensor loss_seed() { return at::ones({}, m_.input.options()); }
  void accumulate(Tensor& into, const Tensor& more) { into.add_(more); }
  void boundary(const std::vector<Tensor>&) { boundary_bytes = meter_.current() - base_; }
  void begin_step(const Step&) {}

  at::Tensor loss;
  int64_t boundary_bytes = 0;

 private:
  const Graph& g_;
  const ModelTensors& m_;
  std::vector<at::Tensor>* grads_;
  const MemoryMeter& meter_;
  int64_t base_;
};

}  // namespace

ModelTensors make_model(const Graph& g, uint64_t seed, at::TensorOptions options) {
  // The CPU draws from a private generator; a GPU from its device's default generator, seeded here (drawing
  // on the device: a 16-layer d_model 2048 model has 0.8 G parameters, seconds of host randn per case).
  at::Generator gen;
  if (options.device().is_cpu()) {
    gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  } else {
    gen = at::globalContext().defaultGenerator(options.device());
    const std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  const at::TensorOptions f32 = options.dtype(at::kFloat);
  const auto draw = [&](int64_t rows, int64_t cols) { return at::randn({rows, cols}, gen, f32); };
  ModelTensors m;
  for (const Param& p : g.params) {
    if (p.rows == 1) {
      m.params.push_back(draw(1, p.cols).mul_(0.1).add_(1.0));
    } else {
      m.params.push_back(draw(p.rows, p.cols).mul_(1.0 / std::sqrt(double(p.rows))));
    }
  }
  const Value& x = g.values[size_t(g.input)];
  m.input = draw(x.rows, x.cols);
  m.target = draw(x.rows, x.cols);
  return to_options(m, options);
}

ModelTensors to_options(const ModelTensors& m, at::TensorOptions options) {
  ModelTensors out;
  for (const at::Tensor& p : m.params) out.params.push_back(p.to(options).contiguous());
  out.input = m.input.to(options).contiguous();
  out.target = m.target.to(options).contiguous();
  return out;
}

int64_t MemoryMeter::current() const {
  return cuda_ ? torch_cuda_current_bytes().value_or(0) : memory::current_bytes();
}

int64_t MemoryMeter::peak() const { return cuda_ ? torch_cuda_peak_bytes().value_or(0) : memory::peak_bytes(); }

void MemoryMeter::reset_peak() const {
  if (cuda_) {
    reset_torch_cuda_peak();
  } else {
    memory::reset_peak();
  }
}

double grad_tolerance(at::ScalarType dtype, int64_t layers) {
  switch (dtype) {
    case at::kFloat: return kF32Tolerance;
    case at::kBFloat16: return kBf16ToleranceRootL * std::sqrt(double(std::max<int64_t>(1, layers)));
    default: throw std::invalid_argument(fmt::format("checkpointing: no gradient tolerance for dtype {}", c10::toString(dtype)));
  }
}

Executor::Executor(const Graph& g, const Plan& plan) : g_(g), schedule_(build_schedule(g, plan)) {}

Accuracy compare_grads(const std::vector<at::Tensor>& out, const std::vector<at::Tensor>& ref, double tolerance) {
  Accuracy worst;
  worst.passed = true;
  worst.max_rel_error = 0;
  if (out.size() != ref.size()) {
    worst.passed = false;
    worst.error = fmt::format("{} gradients, reference has {}", out.size(), ref.size());
    return worst;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].defined()) {
      worst.passed = false;
      worst.error = fmt::format("parameter {} has no gradient", i);
      return worst;
    }
    const at::Tensor o = out[i].to(at::kCPU, at::kDouble).contiguous(), r = ref[i].to(at::kCPU, at::kDouble).contiguous();
    const double* op = o.data_ptr<double>();
    const double* rp = r.data_ptr<double>();
    AccuracyAccumulator acc;
    for (int64_t j = 0; j < o.numel(); ++j) acc.add(op[j], rp[j], "gradient");
    const Accuracy a = acc.finish(Tolerance{tolerance});
    worst.max_abs_error = std::max(worst.max_abs_error, a.max_abs_error);
    worst.max_rel_error = std::max(worst.max_rel_error, a.max_rel_error);
    worst.sqnr_db = std::min(worst.sqnr_db, a.sqnr_db);
    worst.checked_elements += a.checked_elements;
    if (!a.passed && worst.passed) {
      worst.passed = false;
      worst.error = fmt::format("parameter {}: {}", i, a.error);
    }
  }
  return worst;
}

StepMemory Executor::run(const ModelTensors& m, std::vector<at::Tensor>* param_grads, at::Tensor* loss) const {
  param_grads->assign(g_.params.size(), at::Tensor());
  StepMemory out;
  const MemoryMeter meter(m.input.device());
  const int64_t base = meter.current();
  out.live_before = base;
  meter.reset_peak();
  {
    AtenBackend be(g_, m, param_grads, meter, base);
    interpret(g_, schedule_, be, m.input, m.target);
    out.boundary_bytes = be.boundary_bytes;
    if (loss != nullptr) *loss = be.loss;
  }
  out.peak_bytes = meter.peak() - base;
  return out;
}

std::vector<at::Tensor> float64_step_grads(const Graph& g, const ModelTensors& m) {
  const ModelTensors m64 = to_options(m, m.input.options().dtype(at::kDouble));
  std::vector<at::Tensor> grads;
  Executor(g, full_plan(g)).run(m64, &grads);
  return grads;
}

}  // namespace talklab::experiments::checkpointing
